"""Local stand-ins for the Google and AWS endpoints gtoken talks to.

google.py  metadata server, JWKS, IAM, IAM Credentials and OAuth token endpoint
sts.py     AWS STS (AssumeRoleWithWebIdentity, GetCallerIdentity)
iam.py     AWS IAM beside sts.py (trust policies, OIDC providers), on its roles
oidc.py    IAM OIDC identity providers for sts.py, and the HTTPS key fetches
oidc_issuer.py  a local HTTPS OIDC issuer for tests (CA, keys, discovery, JWKS)
harness.py start/stop helpers and small admin clients for tests

See docs/standins.md.
"""
