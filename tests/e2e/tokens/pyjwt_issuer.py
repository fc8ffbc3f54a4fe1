"""A token issuer outside Rust: PyJWT with the `cryptography` backend.

Generates an RSA-2048 and a P-256 key, prints one JSON object with the JWKS
of their public halves and tokens signed RS256 and ES256 for the claims given
on the command line (issuer, audience, tenant, role), the way an identity
provider would issue them, plus one ES256 token with the same key naming
another issuer. Used by tests/e2e/tokens.rs.
"""
import json
import sys
import time

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

issuer, audience, tenant, role = sys.argv[1:5]
keys = {
    "py-rsa": ("RS256", rsa.generate_private_key(public_exponent=65537, key_size=2048), RSAAlgorithm),
    "py-ec": ("ES256", ec.generate_private_key(ec.SECP256R1()), ECAlgorithm),
}
now = int(time.time())
claims = {
    "iss": issuer,
    "aud": [audience, "account"],
    "sub": "py-user",
    "iat": now - 5,
    "exp": now + 300,
    "jti": "py-1",
    "tenant": tenant,
    "role": role,
}
jwks, tokens = [], {}
for kid, (alg, key, algorithm) in keys.items():
    jwk = json.loads(algorithm.to_jwk(key.public_key()))
    jwk.update({"kid": kid, "alg": alg, "use": "sig"})
    jwks.append(jwk)
    tokens[alg] = jwt.encode(claims, key, algorithm=alg, headers={"kid": kid, "typ": "at+jwt"})
    if alg == "ES256":
        foreign = dict(claims, iss="https://evil.example.test")
        tokens["foreign_issuer"] = jwt.encode(foreign, key, algorithm=alg, headers={"kid": kid, "typ": "at+jwt"})
print(json.dumps({"jwks": {"keys": jwks}, "tokens": tokens}))
