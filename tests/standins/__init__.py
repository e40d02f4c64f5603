"""Local stand-ins for the Google and AWS endpoints gtoken talks to.

google.py  metadata server, JWKS, IAM, IAM Credentials and OAuth token endpoint
sts.py     AWS STS (AssumeRoleWithWebIdentity, GetCallerIdentity)
harness.py start/stop helpers and small admin clients for tests

See docs/standins.md.
"""
