"""boto3 as an application in an injected pod uses it: a default session (all
configuration from the environment) and sts.get_caller_identity().

    sdk_boto3.py [--calls N | --forever] [--interval S]

One JSON object per call on stdout, flushed at once:
    {"i": 0, "t": 1700000000.1, "ok": true, "arn": "...", "akid": "ASIA..."}
    {"i": 1, "t": ..., "ok": false, "code": "AccessDenied", "message": "...", "error": "..."}
--forever runs until SIGTERM. Exit code 0 iff every call succeeded.
"""

import argparse
import json
import signal
import sys
import time

import boto3
import botocore.exceptions

stop = False


def on_term(signum, frame):
    global stop
    stop = True


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--calls", type=int, default=1)
    p.add_argument("--forever", action="store_true")
    p.add_argument("--interval", type=float, default=1.0)
    a = p.parse_args()
    signal.signal(signal.SIGTERM, on_term)

    session = boto3.session.Session()
    client = session.client("sts")
    failed = False
    i = 0
    next_t = time.monotonic()
    while not stop and (a.forever or i < a.calls):
        if i > 0:
            next_t += a.interval
            while not stop and time.monotonic() < next_t:
                time.sleep(min(0.05, max(0.0, next_t - time.monotonic())))
            if stop:
                break
        r = {"i": i, "t": time.time()}
        try:
            out = client.get_caller_identity()
            r.update(ok=True, arn=out["Arn"], account=out["Account"], user_id=out["UserId"])
            creds = session.get_credentials()
            if creds is not None:
                r["akid"] = creds.access_key
        except botocore.exceptions.ClientError as e:
            err = e.response.get("Error", {})
            r.update(ok=False, code=err.get("Code"), message=err.get("Message"), error=str(e),
                     operation=e.operation_name)
        except Exception as e:  # noqa: BLE001 - every failure is a result
            r.update(ok=False, code=type(e).__name__, error=str(e))
        r["t_end"] = time.time()
        failed = failed or not r["ok"]
        print(json.dumps(r), flush=True)
        i += 1
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
