"""Running a hub: its database file (integrity, disk full, permissions, purge
leaving nothing behind) and one way to say which database (issue 9, items 8, 9, 10)."""

import os
import sqlite3
import stat
import time

import pytest

from monitor.cli import main
from monitor.errors import CalmlineError
from monitor.hub.auth import add_user, list_users
from monitor.hub.dbfile import DiskFull
from monitor.hub.store import Store

SECRET = "PURPLE ELEPHANT account 4471"


def utterance(call_id, seq, text):
    return {"v": 1, "type": "utterance", "call_id": call_id, "seq": seq, "t": 1.0 + seq, "wall": 1.0 + seq,
            "speaker": "customer", "t_end": 2.0 + seq, "text": text, "language": "en",
            "avg_logprob": -0.3, "no_speech_prob": 0.02}


def fill(store, call_id="c1", n=50, text=SECRET):
    store.ensure_call(call_id, "olga", time.time())
    for seq in range(n):
        store.add_event(call_id, utterance(call_id, seq, f"{text} {seq}"), time.time())


def cli(capsys, *argv):
    with pytest.raises(SystemExit) as exit_:
        main(list(argv))
    out = capsys.readouterr()
    return exit_.value.code or 0, out.out, out.err


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


# --- a damaged database is refused at start ----------------------------------------------
def damage(path, pages=(3, 5, 8)):
    data = bytearray(path.read_bytes())
    size = int.from_bytes(data[16:18], "big")
    for page in pages:
        data[size * page: size * page + 64] = b"\xab" * 64
    path.write_bytes(bytes(data))


def test_a_damaged_database_is_refused_at_start_with_what_to_do(tmp_path, capsys):
    db = tmp_path / "hub.db"
    store = Store(db)
    add_user(store, "sue", "supervisor")
    fill(store, n=200)
    store.close()
    damage(db)
    with pytest.raises(CalmlineError, match="damaged.*restore it from a backup"):
        Store(db)
    code, _, err = cli(capsys, "hub", "user", "list", "--db", str(db))
    assert code == 2
    assert err.count("\n") == 1 and str(db) in err and "damaged" in err and "Traceback" not in err


def test_a_file_that_is_not_a_database_is_named_and_refused(tmp_path, capsys):
    junk = tmp_path / "notes.txt"
    junk.write_text("not a database\n" * 200)
    code, _, err = cli(capsys, "hub", "purge", "--db", str(junk))
    assert code == 2 and err.count("\n") == 1
    assert "not an SQLite database" in err and str(junk) in err
    assert junk.read_text().startswith("not a database")          # left as it was


# --- disk full says so, and keeps what was stored -------------------------------------------
def test_disk_full_says_disk_full_and_keeps_what_was_stored(tmp_path):
    store = Store(tmp_path / "hub.db")
    fill(store, n=20, text="short")
    pages = store.query("PRAGMA page_count")[0][0]
    store.execute(f"PRAGMA max_page_count = {pages}")               # no room to grow: SQLITE_FULL
    with pytest.raises(DiskFull) as err:
        for seq in range(20, 40):
            store.add_event("c1", utterance("c1", seq, "x" * 20000), time.time())
    message = str(err.value)
    assert message.startswith("disk full") and "cannot rollback" not in message
    assert isinstance(err.value, sqlite3.OperationalError)        # the hub's routes treat it as a db error
    assert [e["seq"] for e in store.events("c1")] == list(range(20))   # nothing lost
    with pytest.raises(DiskFull, match="disk full"):
        store.add_clip("c1", 0.0, 2.0, "abuse", 16000, b"\0" * 200000, time.time())
    store.execute("PRAGMA max_page_count = 1000000")               # space freed: it works again
    assert store.add_event("c1", utterance("c1", 99, "after"), time.time())


def test_a_publisher_is_told_disk_full_and_its_event_is_not_acked(tmp_path):
    import json
    import socket

    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    from monitor.hub.app import create_hub_app
    from monitor.hub.serve import HubServer

    store = Store(tmp_path / "hub.db")
    token = add_user(store, "olga", "operator")
    fill(store, n=5, text="short")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = HubServer(create_hub_app(store), "127.0.0.1", port)
    server.start()
    try:
        store.execute(f"PRAGMA max_page_count = {store.query('PRAGMA page_count')[0][0]}")
        acked = []
        with connect(f"ws://127.0.0.1:{port}/ws/publish", open_timeout=5,
                     additional_headers={"Authorization": f"Bearer {token}"}) as ws:
            with pytest.raises(ConnectionClosed) as closed:
                for seq in range(5, 200):                  # until the database cannot grow
                    event = utterance("c1", seq, f"{seq} " + "x" * 1900)
                    ws.send(json.dumps({"kind": "event", "call_id": "c1", "event": event}))
                    reply = json.loads(ws.recv(timeout=5))
                    assert reply["kind"] == "ack" and not reply.get("refused"), reply
                    acked.append(reply["seq"])
        assert closed.value.rcvd.code == 1011 and "disk full" in closed.value.rcvd.reason
        # everything acked is stored; the event that did not fit was not acked (it stays spooled)
        assert [e["seq"] for e in store.events("c1")] == [0, 1, 2, 3, 4] + acked
    finally:
        server.stop()


# --- private files ----------------------------------------------------------------------
def test_the_database_is_0600_in_a_0700_folder_even_with_a_permissive_umask(tmp_path):
    old = os.umask(0o022)
    try:
        db = tmp_path / "new" / "calmline" / "hub.db"
        store = Store(db)
        fill(store, n=3)                                          # creates -wal and -shm
        assert mode(db.parent) == 0o700
        for path in (db, db.with_name("hub.db-wal"), db.with_name("hub.db-shm")):
            assert path.exists() and mode(path) == 0o600, path
        store.close()
        # a database left 0644 by an earlier version is tightened when opened
        os.chmod(db, 0o644)
        Store(db).close()
        assert mode(db) == 0o600
    finally:
        os.umask(old)


def test_an_existing_folder_the_user_chose_is_left_alone(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    os.chmod(shared, 0o755)
    Store(shared / "hub.db").close()
    assert mode(shared) == 0o755 and mode(shared / "hub.db") == 0o600


# --- purge leaves the deleted text in neither file -------------------------------------------
def occurrences(db, needle=SECRET.encode()):
    return {p.name: p.read_bytes().count(needle)
            for p in (db, db.with_name(db.name + "-wal")) if p.exists()}


def test_purged_text_is_gone_from_the_database_and_its_write_ahead_log(tmp_path, capsys):
    db = tmp_path / "hub.db"
    store = Store(db)
    fill(store, "old", n=30)
    fill(store, "new", n=3, text="keep this")
    store.execute("UPDATE calls SET last_event_at = ? WHERE id = 'old'", (time.time() - 40 * 86400,))
    assert sum(occurrences(db).values()) >= 30                   # the text is on disk before
    code, out, _ = cli(capsys, "hub", "purge", "--db", str(db))
    assert code == 0 and out.startswith("purged 1 calls (30 events")
    assert sum(occurrences(db).values()) == 0, occurrences(db)   # in neither file after
    assert sum(occurrences(db, b"keep this").values()) >= 1
    assert [e["seq"] for e in store.events("new")] == [0, 1, 2]
    store.close()


# --- one way to say which database ------------------------------------------------------------
@pytest.fixture()
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    default = tmp_path / "xdg" / "calmline" / "hub.sqlite3"
    yield default
    assert not default.exists(), "a command wrote the default database instead of the one it was given"


def names(db):
    store = Store(db)
    try:
        return sorted(u["name"] for u in list_users(store))
    finally:
        store.close()


def test_db_before_or_after_the_subcommand_is_the_same_database(tmp_path, capsys, home):
    db = tmp_path / "team.db"
    assert cli(capsys, "hub", "--db", str(db), "user", "add", "sue", "--role", "supervisor")[0] == 0
    assert cli(capsys, "hub", "user", "add", "olga", "--role", "operator", "--db", str(db))[0] == 0
    assert names(db) == ["olga", "sue"]
    code, out, _ = cli(capsys, "hub", "--db", str(db), "user", "list")
    assert code == 0 and "olga" in out and "sue" in out
    assert cli(capsys, "hub", "--db", str(db), "user", "revoke", "olga")[0] == 0
    assert cli(capsys, "hub", "--db", str(db), "purge")[0] == 0
    code, _, err = cli(capsys, "hub", "--db", str(db), "user", "list", "--db", str(tmp_path / "other.db"))
    assert code == 2 and "--db given twice" in err and err.count("\n") == 1


def test_the_config_files_hub_db_is_used_by_every_hub_command(tmp_path, capsys, home, monkeypatch):
    conf_dir = tmp_path / "etc"
    conf_dir.mkdir()
    conf = conf_dir / "calmline.toml"
    conf.write_text('[hub]\ndb = "data/hub.db"\n')               # relative to the config file
    monkeypatch.chdir(tmp_path)
    assert cli(capsys, "hub", "--config", str(conf), "user", "add", "sue", "--role", "supervisor")[0] == 0
    assert cli(capsys, "hub", "user", "add", "olga", "--role", "operator", "--config", str(conf))[0] == 0
    db = conf_dir / "data" / "hub.db"
    assert names(db) == ["olga", "sue"]
    assert "sue" in cli(capsys, "hub", "user", "list", "--config", str(conf))[1]
    assert cli(capsys, "hub", "purge", "--config", str(conf))[0] == 0
    # a --db flag beats the config file, wherever it is given
    assert cli(capsys, "hub", "--config", str(conf), "--db", str(tmp_path / "x.db"),
               "user", "add", "pat", "--role", "operator")[0] == 0
    assert names(tmp_path / "x.db") == ["pat"] and "pat" not in names(db)


def test_serving_options_with_a_subcommand_are_refused_not_ignored(tmp_path, capsys, home):
    code, _, err = cli(capsys, "hub", "--host", "0.0.0.0", "user", "list", "--db", str(tmp_path / "h.db"))
    assert code == 2 and "--host" in err and "only for serving" in err
