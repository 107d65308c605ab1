#!/usr/bin/env python3
"""Writes the hostile-input corpus (one HTTP request per line, JSON).

Run it to regenerate the .jsonl files after editing; the files are what the
chaos suite reads. Each case: name, method, path, optional content_type,
accept, body (text) | body_b64 | body_repeat [prefix, unit, count, suffix],
and expect: an exact status or "2xx". `{token:<recipe>}` anywhere in path or
body is replaced at run time by a token built by that recipe (see
tests/chaos/hostile.rs). Every 2xx release case has its own ReleaseId.
"""
import base64
import json
import pathlib

HERE = pathlib.Path(__file__).parent
counter = iter(range(1, 1_000_000))


def uid():
    return f"h{next(counter)}"


def release(name="corpus", rid=None, project="Hostile"):
    return {"ReleaseName": name, "ReleaseId": rid or uid(), "TeamProject": project}


def post_release(name, body, expect, **extra):
    case = {"name": name, "method": "POST", "path": "/release", "content_type": "application/json", "expect": expect}
    if isinstance(body, bytes):
        case["body_b64"] = base64.b64encode(body).decode()
    else:
        case["body"] = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)
    case.update(extra)
    return case


def release_cases():
    cases = []
    valid = json.dumps(release("Desafio-CD", "trunc"))
    # Truncated JSON at every position.
    for i in range(0, len(valid) - 1):
        cases.append(post_release(f"truncated at {i}", valid[:i], 400))
    for body in ["[]", "null", "true", "42", '"text"', "{]", "{,}", "\ufeff" + json.dumps(release()),
                 "ReleaseName=a&ReleaseId=1&TeamProject=p", "{'ReleaseName': 'a'}", "[" * 5000 + "]" * 5000,
                 '{"ReleaseName": "a", "ReleaseId": "1", "TeamProject": "p"} trailing',
                 '{"ReleaseName": NaN, "ReleaseId": "1", "TeamProject": "p"}']:
        cases.append(post_release(f"malformed {body[:30]!r}", body, 400))
    cases.append(post_release("invalid utf-8 in a name", b'{"ReleaseName": "\xff\xfe", "ReleaseId": "1", "TeamProject": "p"}', 400))
    cases.append(post_release("invalid utf-8 overlong", b'{"ReleaseName": "\xc0\xaf", "ReleaseId": "1", "TeamProject": "p"}', 400))
    cases.append(post_release("lone surrogate escape", '{"ReleaseName": "\\ud800", "ReleaseId": "1", "TeamProject": "p"}', 400))
    # Wrong types, field by field.
    for field in ["ReleaseName", "ReleaseId", "TeamProject"]:
        for label, value in [("null", None), ("bool", True), ("float", 1.5), ("list", ["a"]), ("object", {"a": 1}),
                             ("huge number", 10**30), ("exponent", 1e3)]:
            if field == "ReleaseId" and label in ():
                continue
            body = release()
            body[field] = value
            cases.append(post_release(f"{field} as {label}", body, 422))
        if field != "ReleaseId":
            body = release()
            body[field] = 7
            cases.append(post_release(f"{field} as integer", body, 422))
    body = release(rid=None)
    body["ReleaseId"] = 900000 + next(counter)
    cases.append(post_release("ReleaseId as integer", body, "2xx"))
    body = release()
    body["ReleaseId"] = -(900000 + next(counter))
    cases.append(post_release("ReleaseId negative integer", body, "2xx"))
    # Missing fields.
    fields = ["ReleaseName", "ReleaseId", "TeamProject"]
    for mask in range(7):
        body = {f: v for i, (f, v) in enumerate(release().items()) if mask >> i & 1}
        cases.append(post_release(f"only {sorted(body)}", body, 422))
    # Extra fields, aliases, duplicates.
    cases.append(post_release("extra fields", dict(release(), Extra={"deep": [1, 2]}, ReleaseDescription="x"), "2xx"))
    cases.append(post_release("snake_case", {"release_name": "n", "release_id": uid(), "team_project": "Hostile"}, "2xx"))
    cases.append(post_release("both spellings", dict(release(), release_name="x"), 422))
    rid = uid()
    cases.append(post_release("duplicate key, last wins", f'{{"ReleaseName": "a", "ReleaseName": "b", "ReleaseId": "{rid}", "TeamProject": "Hostile"}}', "2xx"))
    # Empty, blank, lengths.
    for field, limit in [("ReleaseName", 256), ("ReleaseId", 128), ("TeamProject", 140)]:
        for label, value, expect in [("empty", "", 422), ("blank", "   \t ", 422), ("at the limit", "x" * limit, "2xx"),
                                     ("over the limit", "x" * (limit + 1), 422), ("far over", "x" * 100_000, 413)]:
            body = release()
            if field == "ReleaseId" and expect == "2xx":
                value = uid() + "x" * (limit - len(uid()) - 1)
                value = value[:limit]
            body[field] = value
            cases.append(post_release(f"{field} {label}", body, expect))
    # Control characters and header injection.
    for field in fields:
        for label, char in [("NUL", "\u0000"), ("BEL", "\u0007"), ("ESC", "\u001b"), ("DEL", "\u007f"), ("NEL", "\u0085"),
                            ("CR", "\r"), ("LF", "\n"), ("CRLF header", "\r\nBcc: evil@example.com"), ("tab", "a\tb")]:
            body = release()
            body[field] = f"x{char}y"
            cases.append(post_release(f"{field} with {label}", body, 422))
    # HTML, script, SQL, Unicode: stored verbatim, escaped where shown.
    verbatim = [
        "<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "\"><svg onload=alert(1)>", "&lt;already&gt; escaped &amp;",
        "{{ 7*7 }} {% raw %}", "${jndi:ldap://x}", "'; DROP TABLE releases; --", "1' OR '1'='1", "Robert'); DELETE FROM jobs;--",
        "\\x00 not a nul", "%00%0d%0a", "emoji 🚀✅", "right-to-left \u202egnp.exe", "zero\u200bwidth", "ｆｕｌｌｗｉｄｔｈ",
        "=?utf-8?b?SGVsbG8=?=", "Subject: injected", "a" * 255 + "é",
    ]
    for i, name in enumerate(verbatim):
        cases.append(post_release(f"verbatim name {i}: {name[:24]!r}", release(name), "2xx", check_name=name))
    for i, project in enumerate(["<b>Proj</b>", "Proj'; --", "Proj/with/slashes", "Proj?x=1#f", "Proj %2F encoded"]):
        cases.append(post_release(f"verbatim project {i}", release("n", project=project), "2xx"))
    # Sizes.
    cases.append({"name": "10 MB body", "method": "POST", "path": "/release", "content_type": "application/json",
                  "body_repeat": ['{"ReleaseName": "', "x", 10 * 1024 * 1024, '", "ReleaseId": "1", "TeamProject": "p"}'], "expect": 413})
    cases.append({"name": "64 KiB + 1 body", "method": "POST", "path": "/release", "content_type": "application/json",
                  "body_repeat": ['{"pad": "', "x", 65536, '"}'], "expect": 413})
    cases.append({"name": "60 KiB body with a valid release", "method": "POST", "path": "/release", "content_type": "application/json",
                  "body_repeat": [f'{{"ReleaseName": "n", "ReleaseId": "{uid()}", "TeamProject": "Hostile", "pad": "', "x", 60000, '"}'], "expect": "2xx"})
    # Content types: JSON ones are taken; what a page elsewhere can post
    # without asking the browser first (a form, text/plain, none) is 415.
    for ct, expect in [("text/plain", 415), ("application/x-www-form-urlencoded", 415),
                       ("application/json; charset=utf-8", "2xx"), ("", 415)]:
        cases.append(post_release(f"valid JSON as {ct or 'no content type'}", release(), expect, content_type=ct))
    return cases


def approval_cases():
    cases = []
    invalid = ["garbage", "tampered_payload", "tampered_signature", "truncated", "alg_none", "hs512_same_key",
               "other_key", "other_release", "other_approver", "extra_segment", "long", "non_ascii", "whitespace_inside"]
    expected = {r: 403 for r in invalid}
    expected.update({"expired": 410, "unknown_jti": 404, "decided_pending_approver": 409})
    for recipe, status in expected.items():
        for accept in ["application/json", "text/html"]:
            cases.append({"name": f"GET {recipe} ({accept})", "method": "GET", "path": f"/approval?token={{token:{recipe}}}",
                          "accept": accept, "expect": status})
        # HEAD and the reject page record nothing: a valid token of a decided
        # release still shows the (decided) release.
        shown = 200 if recipe == "decided_pending_approver" else status
        cases.append({"name": f"HEAD {recipe}", "method": "HEAD", "path": f"/approval?token={{token:{recipe}}}", "expect": shown})
        cases.append({"name": f"GET reject page {recipe}", "method": "GET", "path": f"/approval?token={{token:{recipe}}}&decision=reject",
                      "accept": "text/html", "expect": shown})
        cases.append({"name": f"POST form reject {recipe}", "method": "POST", "path": "/approval", "accept": "application/json",
                      "content_type": "application/x-www-form-urlencoded", "body": f"token={{token:{recipe}}}&decision=reject&comment=no", "expect": status})
        cases.append({"name": f"POST json approve {recipe}", "method": "POST", "path": "/approval", "accept": "application/json",
                      "content_type": "application/json", "body": f'{{"token": "{{token:{recipe}}}", "decision": "approve"}}', "expect": status})
    for path, status in [("/approval", 422), ("/approval?token=", 422), ("/approval?token=%zz", 403),  # decoded leniently: a token "%zz", invalid
                         ("/approval?token={token:valid_a2}&token={token:valid_a2}", 400),
                         ("/approval?token={token:valid_a2}&decision=APPROVE", 400),
                         ("/approval?token={token:valid_a2}&decision=maybe", 400),
                         ("/approval?decision=reject", 422)]:
        cases.append({"name": f"GET {path[:50]}", "method": "GET", "path": path, "accept": "application/json", "expect": status})
    posts = [
        ("no body", "application/x-www-form-urlencoded", "", 422),
        ("decision missing", "application/x-www-form-urlencoded", "token={token:valid_a2}", 422),
        ("decision unknown", "application/x-www-form-urlencoded", "token={token:valid_a2}&decision=maybe", 422),
        ("comment too long", "application/x-www-form-urlencoded", "token={token:valid_a2}&decision=reject&comment=" + "x" * 2001, 422),
        ("comment with NUL", "application/x-www-form-urlencoded", "token={token:valid_a2}&decision=reject&comment=a%00b", 422),
        ("comment with ESC", "application/json", '{"token": "{token:valid_a2}", "decision": "reject", "comment": "a\\u001bb"}', 422),
        ("truncated JSON", "application/json", '{"token": "{token:valid_a2}", "deci', 400),
        ("JSON list", "application/json", "[]", 400),
        ("token as number", "application/json", '{"token": 5, "decision": "approve"}', 400),
        ("decision as list", "application/json", '{"token": "{token:valid_a2}", "decision": ["approve"]}', 400),
        ("invalid utf-8 form", "application/x-www-form-urlencoded", None, 422),  # decoded lossily: no valid decision
    ]
    for label, ct, body, status in posts:
        case = {"name": f"POST /approval {label}", "method": "POST", "path": "/approval", "accept": "application/json",
                "content_type": ct, "expect": status}
        if body is None:
            case["body_b64"] = base64.b64encode(b"token=\xff&decision=\xfe").decode()
        else:
            case["body"] = body
        cases.append(case)
    cases.append({"name": "POST /approval 17 KiB", "method": "POST", "path": "/approval", "content_type": "application/x-www-form-urlencoded",
                  "body_repeat": ["comment=", "x", 17 * 1024, ""], "expect": 413})
    # Replays: the decided approver's own decision again changes nothing (200),
    # a different one is refused; a valid link opened twice records once.
    cases.append({"name": "replay of a recorded rejection", "method": "POST", "path": "/approval", "accept": "application/json",
                  "content_type": "application/x-www-form-urlencoded", "body": "token={token:decided_rejector}&decision=reject", "expect": 200})
    cases.append({"name": "changed mind after rejecting", "method": "GET", "path": "/approval?token={token:decided_rejector}",
                  "accept": "application/json", "expect": 409})
    cases.append({"name": "valid link, first click", "method": "GET", "path": "/approval?token={token:valid_a1}", "accept": "application/json", "expect": 200})
    cases.append({"name": "valid link, replayed", "method": "GET", "path": "/approval?token={token:valid_a1}", "accept": "application/json", "expect": 200})
    return cases


def route_cases():
    cases = []
    for path, status in [("/releases/Hostile/does-not-exist", 404), ("/releases/Hostile/%00", 422), ("/releases/%0d%0a/1", 422),
                         ("/releases/" + "x" * 200 + "/1", 422), ("/releases/Hostile/" + "9" * 129, 422),
                         ("/releases/Hostile/..%2F..%2Fetc", 404), ("/releases/Hostile", 404), ("/releases?limit=999", 422),
                         ("/releases?cursor=%00", 422), ("/releases/Hostile/nope/events", 404),
                         ("/nowhere", 404), ("/release/", 404), ("/%ff", 404), ("/" + "a" * 4000, 404)]:
        cases.append({"name": f"GET {path[:40]}", "method": "GET", "path": path, "expect": status})
    for method in ["GET", "PUT", "DELETE", "PATCH"]:
        cases.append({"name": f"{method} /release", "method": method, "path": "/release", "expect": 405})
    for method in ["PUT", "DELETE"]:
        cases.append({"name": f"{method} /approval", "method": method, "path": "/approval", "expect": 405})
    return cases


for file, cases in [("release.jsonl", release_cases()), ("approval.jsonl", approval_cases()), ("routes.jsonl", route_cases())]:
    with open(HERE / file, "w", encoding="utf-8") as out:
        for case in cases:
            out.write(json.dumps(case, ensure_ascii=False) + "\n")
    print(f"{file}: {len(cases)} cases")
