"""An independent client for the Hetzner Cloud simulator: the official
`hcloud` Python library (PyPI, installed by scripts/install-test-deps),
run by crates/sims/tests/providers/hetzner.rs.

  hcloud_client.py drive --endpoint http://127.0.0.1:PORT/v1 --token TOKEN --control http://127.0.0.1:PORT

Drives the simulator through what our adapter does with Hetzner Cloud:
create servers labelled with an item id, wait for the create action, list
servers by label selector (page by page and all pages), reset the root
password, power off and on, delete; and through its faults: a rate limit
the library waits out, an action that ends in error, a name already used,
an action that never ends. Prints one JSON line per check; any failed
expectation raises, so the exit status is non-zero.
"""

import argparse
import json
import urllib.request

from hcloud import APIException, Client
from hcloud.actions import ActionFailedException, ActionTimeoutException
from hcloud.images import Image
from hcloud.locations import Location
from hcloud.server_types import ServerType


def log(check, **details):
    print(json.dumps({"check": check, **details}), flush=True)


def faults(control, plan):
    request = urllib.request.Request(
        control + "/_sim/faults",
        data=json.dumps(plan).encode(),
        headers={"content-type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()


def create(client, name, item, server_type="cpx21"):
    return client.servers.create(
        name=name,
        server_type=ServerType(name=server_type),
        image=Image(name="debian-12"),
        location=Location(name="fsn1"),
        labels={"orderflow-item": item, "managed-by": "orderflow"},
    )


def drive(args):
    client = Client(token=args.token, api_endpoint=args.endpoint, poll_interval=0.05)

    made = create(client, "of-item-1", "item-1")
    assert made.server.status == "initializing", made.server.status
    assert made.action.command == "create_server", made.action.command
    assert made.root_password, "a server without SSH keys gets a root password"
    assert [a.command for a in made.next_actions] == ["start_server"], made.next_actions
    made.action.wait_until_finished()
    assert made.action.status == "success", made.action.status
    server = client.servers.get_by_id(made.server.id)
    assert server.status == "running", server.status
    assert server.server_type.name == "cpx21" and server.location.name == "fsn1"
    assert server.image.name == "debian-12" and server.public_net.ipv4.ip
    log("create, then its action polled until success", id=server.id)

    for n in (2, 3, 4):
        create(client, f"of-item-{n}", f"item-{n}").action.wait_until_finished()
    found = client.servers.get_all(label_selector="orderflow-item==item-3")
    assert [s.name for s in found] == ["of-item-3"], [s.name for s in found]
    page = client.servers.get_list(label_selector="managed-by=orderflow", page=1, per_page=3)
    assert len(page.servers) == 3, len(page.servers)
    assert page.meta.pagination.next_page == 2 and page.meta.pagination.total_entries == 4
    everything = client.servers.get_all(label_selector="managed-by=orderflow,!team")
    assert len(everything) == 4, len(everything)
    log("list by label selector, one page and every page")

    actions = client.servers.get_actions(server, sort=["id:asc"])
    assert [a.command for a in actions][:2] == ["create_server", "start_server"], actions
    assert all(a.status == "success" for a in actions)
    reset = server.reset_password()
    assert reset.root_password and reset.root_password != made.root_password
    reset.action.wait_until_finished()
    server.power_off().wait_until_finished()
    assert client.servers.get_by_id(server.id).status == "off"
    server.power_on().wait_until_finished()
    assert client.servers.get_by_id(server.id).status == "running"
    log("server actions: list, reset_password, poweroff, poweron")

    faults(args.control, {"rate_limit_next": 1})
    limited = client.servers.get_by_id(server.id)
    assert limited.id == server.id
    log("a rate limit is retried by the library")

    faults(args.control, {"action_error_for": ["item-9"]})
    failing = create(client, "of-item-9", "item-9")
    try:
        failing.action.wait_until_finished()
        raise AssertionError("an action in error must raise")
    except ActionFailedException as e:
        assert e.action.error["code"] == "action_failed", e.action.error
    log("an action that ends in error raises ActionFailedException")

    faults(args.control, {})
    try:
        create(client, "of-item-1", "item-1")
        raise AssertionError("a second server with one name must be refused")
    except APIException as e:
        assert e.code == "uniqueness_error", e.code
    log("a used name is a uniqueness_error")

    try:
        client.servers.create(
            name="of-item-x",
            server_type=ServerType(name="gpu-h100"),
            image=Image(name="debian-12"),
            location=Location(name="fsn1"),
        )
        raise AssertionError("an unknown server type must be refused")
    except APIException as e:
        assert e.code == "invalid_input" and e.details["fields"][0]["name"] == "server_type", e.details
    log("an unknown server type is invalid_input naming the field")

    faults(args.control, {"stuck": True})
    stuck = create(client, "of-item-7", "item-7")
    try:
        stuck.action.wait_until_finished(max_retries=3)
        raise AssertionError("a stuck action must time out")
    except ActionTimeoutException:
        pass
    log("a stuck creation times out the library's wait")

    faults(args.control, {})
    for s in client.servers.get_all(label_selector="managed-by=orderflow"):
        s.delete().wait_until_finished()
    assert client.servers.get_all() == []
    try:
        client.servers.get_by_id(server.id)
        raise AssertionError("a deleted server must be gone")
    except APIException as e:
        assert e.code == "not_found", e.code
    log("delete, then the server is gone")
    log("done")


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    d = sub.add_parser("drive")
    d.add_argument("--endpoint", required=True)
    d.add_argument("--token", required=True)
    d.add_argument("--control", required=True)
    args = parser.parse_args()
    if args.command == "drive":
        drive(args)


if __name__ == "__main__":
    main()
