"""The WeCom access_token in the database: shared by threads and processes refreshing at
once, keyed without any part of the secret, and never shown in a database error."""
from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from bot.wecom.client import DatabaseTokenStore, WeComClient
from storage.models import PlatformToken
from tests.fakes.wecom import AGENT_ID, CORP_ID, FakeWeCom

ROOT = Path(__file__).resolve().parent.parent
# Shaped like a real app secret, and sharing no 4 characters with a corp id, an agent id,
# a token name or a token (so any 4 of them found in the database came from the secret).
DISTINCT_SECRET = "Qv3XjR8mKp2LwZ7yNb5YhG9cFd4SsU6eGo1IkW0rJq"


@pytest.fixture
def fake():
    server = FakeWeCom(secret=DISTINCT_SECRET)
    yield server
    server.close()


def new_client(engine, fake) -> WeComClient:
    return WeComClient(CORP_ID, DISTINCT_SECRET, agent_id=AGENT_ID, api_url=fake.api_url,
                       store=DatabaseTokenStore(engine))


def stored_tokens(engine) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(sa.select(PlatformToken.name,
                                                             PlatformToken.value,
                                                             PlatformToken.expires_at))]


def secret_pieces(secret: str, size: int = 4) -> set[str]:
    return {secret[i:i + size] for i in range(len(secret) - size + 1)}


def refresh_at_once(clients) -> tuple[list[str], list[BaseException]]:
    """Every client reads the token, forgets and refetches it, and reads it again, all
    starting at the same moment; the tokens they ended with and the errors they raised."""
    barrier = threading.Barrier(len(clients))
    tokens, errors = [], []

    def run(client):
        try:
            barrier.wait()
            client.access_token
            client.refresh_token()
            tokens.append(client.access_token)
        except BaseException as exc:  # noqa: BLE001 - the test reports every failure
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return tokens, errors


def test_threads_refreshing_at_once_agree_without_errors(engine, fake):
    clients = [new_client(engine, fake) for _ in range(8)]
    tokens, errors = refresh_at_once(clients)
    assert errors == [] and len(tokens) == 8
    assert set(tokens) <= fake.valid_tokens  # each one a token WeCom issued and still honours
    [(name, value, _)] = stored_tokens(engine)
    assert value in fake.valid_tokens
    assert {c.access_token for c in clients} == {value}  # everyone now reads the same one
    # No retry storm: at most one initial fetch and one refresh per client.
    assert len(fake.of("gettoken")) <= 16


PROCESS = """
import sys, threading
from bot.wecom.client import DatabaseTokenStore, WeComClient
from storage.engine import build_engine
url, api, secret, corp, agent = sys.argv[1:]
engine = build_engine(url)
clients = [WeComClient(corp, secret, agent_id=int(agent), api_url=api,
                       store=DatabaseTokenStore(engine)) for _ in range(4)]
barrier, tokens = threading.Barrier(4), []
def run(client):
    barrier.wait()
    client.access_token
    client.refresh_token()
    tokens.append(client.access_token)
print("ready", flush=True)
sys.stdin.readline()
threads = [threading.Thread(target=run, args=(c,)) for c in clients]
for t in threads: t.start()
for t in threads: t.join()
print(*tokens)
"""


def test_two_processes_refreshing_at_once(db_url, engine, fake):
    procs = [subprocess.Popen([sys.executable, "-c", PROCESS, db_url, fake.api_url,
                               DISTINCT_SECRET, CORP_ID, str(AGENT_ID)],
                              cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    try:
        for p in procs:  # both imported and connected: start them together
            assert p.stdout.readline().strip() == "ready", p.stderr.read()
        for p in procs:
            p.stdin.write("go\n")
            p.stdin.flush()
        outputs = [p.communicate(timeout=120) for p in procs]
    finally:
        for p in procs:
            p.kill() if p.poll() is None else None
    for p, (out, err) in zip(procs, outputs):
        assert p.returncode == 0 and "Traceback" not in err, err
        tokens = out.split()
        assert len(tokens) == 4 and set(tokens) <= fake.valid_tokens
    [(_, value, _)] = stored_tokens(engine)
    assert value in fake.valid_tokens and new_client(engine, fake).access_token == value


def test_no_part_of_the_secret_is_stored(engine, fake):
    client = new_client(engine, fake)
    assert client.access_token == "TOKEN-1"
    rows = stored_tokens(engine)
    assert len(rows) == 1
    stored = " ".join(str(column) for row in rows for column in row)
    assert not {piece for piece in secret_pieces(DISTINCT_SECRET) if piece in stored}
    assert rows[0][0] == f"wecom:{CORP_ID}:{AGENT_ID}:access_token"


def refuse_token_writes(engine) -> None:
    """A trigger failing every INSERT into platform_tokens: a real database error, raised by
    the very statement that carries the token."""
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql("CREATE TRIGGER refuse_tokens BEFORE INSERT ON platform_tokens "
                                 "BEGIN SELECT RAISE(ABORT, 'token writes refused'); END")
        else:
            conn.exec_driver_sql("CREATE FUNCTION refuse_tokens() RETURNS trigger "
                                 "LANGUAGE plpgsql AS $$ BEGIN "
                                 "RAISE EXCEPTION 'token writes refused'; END $$")
            conn.exec_driver_sql("CREATE TRIGGER refuse_tokens BEFORE INSERT ON platform_tokens "
                                 "FOR EACH ROW EXECUTE FUNCTION refuse_tokens()")


def test_a_database_error_shows_no_token(engine, fake):
    refuse_token_writes(engine)
    with pytest.raises(sa.exc.DBAPIError) as raised:
        new_client(engine, fake).access_token
    message = str(raised.value)
    assert "token writes refused" in message  # the error is the trigger's, on the INSERT
    assert "INSERT INTO platform_tokens" in message and "parameters hidden" in message
    assert fake.tokens_issued == 1 and "TOKEN-1" not in message
    assert not {piece for piece in secret_pieces(DISTINCT_SECRET) if piece in message}


def test_migration_0007_drops_tokens_named_by_the_secret(bare_engine):
    from datetime import datetime, timedelta, timezone

    from storage.migrate import upgrade
    upgrade(bare_engine, "0006")
    old_name = f"wecom:{CORP_ID}_{DISTINCT_SECRET[:10]}_access_token"  # wechatpy's key
    with bare_engine.begin() as conn:
        conn.execute(sa.insert(PlatformToken).values(
            name=old_name, value="TOKEN-OLD",
            expires_at=datetime.now(timezone.utc) + timedelta(hours=1)))
    assert upgrade(bare_engine, "0007") == ("0006", "0007")
    assert stored_tokens(bare_engine) == []
