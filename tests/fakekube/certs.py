"""Test-time PKI: a CA, a serving certificate for 127.0.0.1/localhost and client
certificates (CN = user, O = groups, as kube-apiserver's x509 authenticator reads them)."""
import datetime
import ipaddress
import os

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def _key():
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _cert_pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


def _validity(builder):
    now = datetime.datetime.now(datetime.timezone.utc)
    return builder.not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(
        now + datetime.timedelta(days=2))


class CertBundle:
    """Writes ``ca.crt``, ``server.crt``/``server.key`` into ``directory``."""

    def __init__(self, directory, hosts=("127.0.0.1", "localhost")):
        os.makedirs(directory, exist_ok=True)
        self.directory = directory
        self.ca_key = _key()
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fakekube-ca")])
        b = x509.CertificateBuilder().subject_name(name).issuer_name(name)
        b = _validity(b).serial_number(x509.random_serial_number()).public_key(
            self.ca_key.public_key())
        b = b.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        b = b.add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True,
                                          crl_sign=True, content_commitment=False,
                                          key_encipherment=False, data_encipherment=False,
                                          key_agreement=False, encipher_only=False,
                                          decipher_only=False), critical=True)
        b = b.add_extension(x509.SubjectKeyIdentifier.from_public_key(self.ca_key.public_key()),
                            critical=False)
        self.ca_cert = b.sign(self.ca_key, hashes.SHA256())
        self.ca_file = self._write("ca.crt", _cert_pem(self.ca_cert))
        self.server_cert_file, self.server_key_file = self._issue(
            "server", "kube-apiserver", [], hosts, server=True)

    def _write(self, fname, data):
        path = os.path.join(self.directory, fname)
        with open(path, "wb") as f:
            f.write(data)
        os.chmod(path, 0o600)
        return path

    def _issue(self, fname, cn, orgs, hosts, server):
        key = _key()
        attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in orgs]
        attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
        b = x509.CertificateBuilder().subject_name(x509.Name(attrs)).issuer_name(
            self.ca_cert.subject)
        b = _validity(b).serial_number(x509.random_serial_number()).public_key(key.public_key())
        b = b.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        b = b.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
            self.ca_key.public_key()), critical=False)
        if server:
            sans = []
            for h in hosts:
                try:
                    sans.append(x509.IPAddress(ipaddress.ip_address(h)))
                except ValueError:
                    sans.append(x509.DNSName(h))
            b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
            b = b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                                critical=False)
        else:
            b = b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]),
                                critical=False)
        cert = b.sign(self.ca_key, hashes.SHA256())
        return (self._write(fname + ".crt", _cert_pem(cert)),
                self._write(fname + ".key", _key_pem(key)))

    def issue_client(self, user, groups=()):
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in user)
        return self._issue("client-" + safe, user, list(groups), (), server=False)


def subject_of(peercert):
    """(user, groups) from ssl.getpeercert()'s subject (CN, O)."""
    if not peercert:
        return None
    cn, orgs = None, []
    for rdn in peercert.get("subject", ()):
        for k, v in rdn:
            if k == "commonName":
                cn = v
            elif k == "organizationName":
                orgs.append(v)
    return (cn, tuple(orgs)) if cn else None
