"""A real SMTP server for tests/mail_smtp.rs: aiosmtpd on 127.0.0.1.

Each accepted message is written whole (headers and body, as received) to --out as NNNN.eml,
renamed into place so a reader never sees half a file. --fail-first-data N answers the first N
DATA commands with 451 (a transient refusal: nothing delivered). Recipients starting with
"nobody@" are refused with 550 (a permanent refusal). Prints "ready" once it accepts
connections; runs until killed.
"""
import argparse
import os
import time

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, out, fail_first_data):
        self.out = out
        self.fail_left = fail_first_data
        self.count = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("nobody@"):
            return "550 5.1.1 No such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.fail_left > 0:
            self.fail_left -= 1
            return "451 4.3.0 Try again later"
        self.count += 1
        path = os.path.join(self.out, "%04d.eml" % self.count)
        with open(path + ".tmp", "wb") as f:
            f.write(envelope.original_content or envelope.content)
        os.rename(path + ".tmp", path)
        return "250 2.0.0 OK"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--fail-first-data", type=int, default=0)
    args = parser.parse_args()
    controller = Controller(
        Sink(args.out, args.fail_first_data), hostname="127.0.0.1", port=args.port
    )
    controller.start()
    print("ready", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
