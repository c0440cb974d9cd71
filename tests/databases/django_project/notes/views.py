from django.db import connection
from django.http import HttpRequest, JsonResponse

from .models import Note


def add_note(request: HttpRequest) -> JsonResponse:
    """Writes a row and reads it back, through the ORM."""
    note = Note.objects.create(text=request.GET.get("text", "hello"))
    return JsonResponse({"id": note.pk, "text": Note.objects.get(pk=note.pk).text, "count": Note.objects.count()})


def whoami(request: HttpRequest) -> JsonResponse:
    """The database user and whether the connection is encrypted, as the server reports them."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT current_user, ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            user, tls = cursor.fetchone()
        else:
            cursor.execute("SELECT SUBSTRING_INDEX(CURRENT_USER(), '@', 1)")
            (user,) = cursor.fetchone()
            cursor.execute("SHOW STATUS LIKE 'Ssl_cipher'")
            tls = bool(cursor.fetchone()[1])
    return JsonResponse({"user": user, "tls": bool(tls)})
