"""HTTP caching never hands one caller's answer to another: answers to a logged-in caller are ``private`` (no
shared cache keeps them), every cacheable answer varies with the credentials, and an ETag names the caller, so
a copy fetched while logged in is never revalidated (304) for an anonymous request. Both backends."""

from __future__ import annotations

from reviewkit import login

PRIVATE = "assigned_to"  # a field the privacy rule hides from anonymous readers


def test_answers_to_logged_in_callers_are_private_and_vary_with_the_credentials(app_client):
    admin = login(app_client, "admin")
    for url in ("/alerts", "/ogc/collections/alerts/items", "/ogc/collections/alerts/tiles/WebMercatorQuad/0/0/0"):
        anonymous, logged_in = app_client.get(url), app_client.get(url, headers=admin)
        assert anonymous.status_code == logged_in.status_code == 200, url
        assert anonymous.headers["cache-control"].startswith("public")
        assert logged_in.headers["cache-control"].startswith("private"), url
        for r in (anonymous, logged_in):
            assert {"authorization", "x-api-key"} <= {v.strip().lower() for v in r.headers["vary"].split(",")}
        assert anonymous.headers["etag"] != logged_in.headers["etag"], url
        # the logged-in copy's tag, offered anonymously, is not "still current": the reader gets its own answer
        again = app_client.get(url, headers={"If-None-Match": logged_in.headers["etag"]})
        assert again.status_code == 200 and again.headers["etag"] == anonymous.headers["etag"], url
    features = app_client.get("/alerts").json()["features"]
    assert features and all(PRIVATE not in f["properties"] for f in features)
    assert all(PRIVATE in f["properties"] for f in app_client.get("/alerts", headers=admin).json()["features"])


def test_the_login_form_takes_no_large_body(app_client):
    """Anyone may post to /auth/token, so its body is held to the size of a form, refused before it is read."""
    r = app_client.post("/auth/token", content=b"username=a&password=" + b"x" * 200_000,
                        headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 413
    assert app_client.post("/auth/token", data={"username": "nobody", "password": "wrong"}).status_code == 401
