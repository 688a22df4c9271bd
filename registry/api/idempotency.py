"""`Idempotency-Key` for POSTs: a retried request with the same key returns the first result and
records nothing twice (the pattern of Stripe's API and the IETF idempotency-key draft)."""

import functools
import hashlib
import json

from django.db import IntegrityError, transaction
from rest_framework import status
from rest_framework.response import Response

from registry.models import IdempotencyKey

HEADER = "Idempotency-Key"


def idempotent(view_method):
    @functools.wraps(view_method)
    def wrapper(self, request, *args, **kwargs):
        key = request.headers.get(HEADER, "").strip()
        if not key:
            return view_method(self, request, *args, **kwargs)
        if len(key) > 200:
            return Response({HEADER: ["at most 200 characters"]}, status=400)
        fingerprint = hashlib.sha256(
            json.dumps(request.data, sort_keys=True, default=str).encode()
        ).hexdigest()
        where = f"{request.method} {request.path}"
        try:
            with transaction.atomic():
                stored = IdempotencyKey.objects.filter(user=request.user, key=key).first()
                if stored is not None:
                    return _replay(stored, where, fingerprint)
                # Claim the key before doing the work: a concurrent retry's insert waits on the
                # unique index until this transaction ends, then replays what it committed.
                claim = IdempotencyKey.objects.create(
                    key=key,
                    user=request.user,
                    method_path=where,
                    request_hash=fingerprint,
                    status_code=0,
                    response={},
                )
                response = view_method(self, request, *args, **kwargs)
                if response.status_code >= 500:
                    transaction.set_rollback(True)
                    return response
                claim.status_code = response.status_code
                claim.response = json.loads(json.dumps(response.data, default=str))
                claim.save(update_fields=["status_code", "response"])
                return response
        except IntegrityError:
            # A concurrent retry with the same key won the race; its result is the answer and
            # everything this request did was rolled back with the atomic block.
            stored = IdempotencyKey.objects.filter(user=request.user, key=key).first()
            if stored is None:  # the IntegrityError was the view's own, not the key's
                raise
            return _replay(stored, where, fingerprint)

    return wrapper


def _replay(stored: IdempotencyKey, where: str, fingerprint: str) -> Response:
    if stored.method_path != where or stored.request_hash != fingerprint:
        return Response(
            {HEADER: ["this key was already used for a different request"]},
            status=status.HTTP_422_UNPROCESSABLE_ENTITY,
        )
    response = Response(stored.response, status=stored.status_code)
    response["Idempotent-Replayed"] = "true"
    return response
