"""Stand-in for grequests in the Redfish mockup server's process: the server imports it only to
post event subscriptions, which no connector test makes (the real one needs gevent)."""


def post(*args, **kwargs):
    raise NotImplementedError("event subscriptions are not served in the tests")


def map(requests, *args, **kwargs):  # noqa: A001 - grequests' own name
    return []
