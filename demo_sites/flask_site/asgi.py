"""The Flask site for ASGI servers (uvicorn): a2wsgi's WSGI-to-ASGI bridge, which Starlette and uvicorn
recommend. asgiref's ``WsgiToAsgi`` answers some requests with 500s under concurrent load
("CurrentThreadExecutor already quit or is broken", asgiref issues 491 and 526)."""

from a2wsgi import WSGIMiddleware

from demo_sites.flask_site.app import app

application = WSGIMiddleware(app, workers=8)
