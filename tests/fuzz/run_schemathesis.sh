#!/usr/bin/env bash
# Fuzz the running API against its own OpenAPI schema as five identities: a superuser, an
# operator (of one site), procurement, an auditor and a catalogue editor.
#
# All of schemathesis's checks: any 5xx, any status, header, body or content type the schema does
# not list, valid data refused or invalid data accepted, a missing auth that is not refused.
# The app runs under gunicorn with DEBUG off (as deployed), on the demo data, with tasks run
# eagerly in the web process. The PostgreSQL database named by DATABASE_URL is DROPPED and created
# afresh (the fuzzer writes and deletes at random), then loaded with the demo: give it a
# throwaway name.
#
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/circulus_fuzz tests/fuzz/run_schemathesis.sh
#
# FUZZ_SECONDS (default 40) bounds the run of each identity; FUZZ_SEED makes a run reproducible.
# One schemathesis worker: with several, hypothesis parses lambdas' source in parallel threads,
# which CPython 3.11's parser does not survive ("AST constructor recursion depth mismatch").
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${DATABASE_URL:?set DATABASE_URL to a throwaway database}"
VENV=${VENV:-.venv}
PY=$VENV/bin/python
PORT=${FUZZ_PORT:-8765}
SECONDS_EACH=${FUZZ_SECONDS:-40}
SEED=${FUZZ_SEED:-$(date +%s)}
OUT=${FUZZ_OUT:-var/fuzz}
mkdir -p "$OUT"

export DEBUG=0 SECURE_SSL_REDIRECT=0 SESSION_COOKIE_SECURE=0 CSRF_COOKIE_SECURE=0
export SECRET_KEY=${SECRET_KEY:-fuzz-only-$(date +%s)-not-a-production-secret-key-value}
export ALLOWED_HOSTS=127.0.0.1 LOG_LEVEL=ERROR
unset CELERY_BROKER_URL CELERY_RESULT_BACKEND

"$PY" - <<'EOF'
import os

import dj_database_url
import psycopg

conf = dj_database_url.parse(os.environ["DATABASE_URL"])
assert conf["ENGINE"].endswith("postgresql"), "the fuzz run needs a PostgreSQL DATABASE_URL"
server = dict(host=conf["HOST"], port=conf["PORT"] or 5432, user=conf["USER"])
with psycopg.connect(dbname="postgres", autocommit=True, password=conf["PASSWORD"] or None,
                     **server) as admin:  # fmt: skip
    admin.execute(f'DROP DATABASE IF EXISTS "{conf["NAME"]}" WITH (FORCE)')
    admin.execute(f'CREATE DATABASE "{conf["NAME"]}"')
EOF
"$PY" manage.py migrate --no-input -v 0
"$PY" manage.py demo > "$OUT/demo.log"
"$PY" manage.py shell -v 0 -c "
from django.contrib.auth.models import Group, User
from accounts import tokens
from registry.models import Site
admin, _ = User.objects.get_or_create(username='fuzz-admin', defaults={'is_superuser': True, 'is_staff': True})
operator, _ = User.objects.get_or_create(username='fuzz-operator')
Site.objects.order_by('code').first().operators.add(operator)
users = [admin, operator]
for role in ('operator', 'procurement', 'auditor', 'catalogue-editor'):
    user = operator if role == 'operator' else User.objects.get_or_create(username='fuzz-' + role)[0]
    user.groups.add(Group.objects.get(name=role))
    users += [] if user in users else [user]
for user in users:
    open('$OUT/token-' + user.username, 'w').write(tokens.issue(user, days=1)[1])
"
"$PY" manage.py spectacular --file "$OUT/schema.json" --format openapi-json --validate

"$VENV/bin/gunicorn" circulus.wsgi:application --bind "127.0.0.1:$PORT" --workers 2 \
  --timeout 60 --log-level warning --pid "$OUT/gunicorn.pid" &
server=$!
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true' EXIT
"$PY" - "$PORT" <<'EOF'
import sys
import time
import urllib.request

for _ in range(120):
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/admin/login/", timeout=2)
        break
    except OSError:
        time.sleep(0.5)
else:
    sys.exit("gunicorn did not start")
EOF

status=0
for user in fuzz-admin fuzz-operator fuzz-procurement fuzz-auditor fuzz-catalogue-editor; do
  printf '\n--- schemathesis as %s (seed %s, %ss) ---\n' "$user" "$SEED" "$SECONDS_EACH"
  "$VENV/bin/st" --config-file tests/fuzz/schemathesis.toml run "$OUT/schema.json" --url "http://127.0.0.1:$PORT" \
    --header "Authorization: Token $(cat "$OUT/token-$user")" \
    --checks all \
    --max-time "$SECONDS_EACH" --seed "$SEED" --workers 1 --request-timeout 30 \
    --suppress-health-check all --no-color \
    --report junit --report-junit-path "$OUT/junit-$user.xml" || status=1
done
exit $status
