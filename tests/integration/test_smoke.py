"""The server answers real clients over a real socket."""


def test_ping_with_redis_py(client):
    assert client.ping() is True


def test_select_out_of_range_is_an_error(raw):
    conn = raw()
    assert conn.command("SELECT", 16) == "ERR DB index is out of range"
