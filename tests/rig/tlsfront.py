# -*- coding: utf-8 -*-
"""AWS-style host names over TLS for a tool that cannot be pointed at a local endpoint (the stock condor_annex:
every call is SigV4 for https://<service>.<region>.amazonaws.com, whatever its URL settings say once a region is
set). A test maps those names to a podman network's gateway in a container's /etc/hosts, trusts the CA made here
inside that container only, and runs a TlsFront on the gateway, which relays each connection byte for byte to an
endpoint on 127.0.0.1 (moto, or the rig's front before it)."""

from __future__ import annotations


def certificate_authority(names):
    """A CA and a server certificate for names, both made now: (ca_pem, cert_pem, key_pem)."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cloudburst test CA (annex check-setup)")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(hours=2))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(hours=2))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    return (ca.public_bytes(pem), cert.public_bytes(pem),
            key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))


def serve_aws_names(container, names, address, backend_port, workdir):
    """Let a container reach names (AWS host names) at address over TLS, relayed to backend_port on 127.0.0.1: a CA
    made now is trusted in the container and the names point at address in its /etc/hosts. Returns the running
    TlsFront (stop() it)."""
    import os
    import subprocess

    ca, cert, key = certificate_authority(names)
    paths = {name: os.path.join(workdir, name) for name in ("ca.crt", "cert.pem", "key.pem")}
    for name, data in (("ca.crt", ca), ("cert.pem", cert), ("key.pem", key)):
        with open(paths[name], "wb") as stream:
            stream.write(data)
    trusted = f"{container}:/usr/local/share/ca-certificates/cloudburst-test.crt"
    subprocess.run(["podman", "cp", paths["ca.crt"], trusted], check=True, capture_output=True)
    hosts = "".join(f"{address} {name}\n" for name in names)
    subprocess.run(["podman", "exec", container, "sh", "-c",
                    f"update-ca-certificates >/dev/null 2>&1 && printf '{hosts}' >> /etc/hosts"],
                   check=True, capture_output=True)
    return TlsFront(address, backend_port, paths["cert.pem"], paths["key.pem"])


class TlsFront:
    """TLS on (address, 443), each connection relayed byte for byte to an endpoint on 127.0.0.1."""

    def __init__(self, address, backend_port, cert_file, key_file):
        import socket
        import ssl
        import threading

        self.backend_port = backend_port
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert_file, key_file)
        self.listener = socket.create_server((address, 443))
        self.listener.settimeout(0.5)
        self.running = True
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        import socket
        import threading

        while self.running:
            try:
                client = self.listener.accept()[0]
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=self._handle, args=(client,), daemon=True).start()

    def _handle(self, client):
        import socket
        import threading

        try:
            tls = self.context.wrap_socket(client, server_side=True)
            backend = socket.create_connection(("127.0.0.1", self.backend_port))
        except OSError:
            client.close()
            return

        def pump(source, sink):
            try:
                while True:
                    data = source.recv(65536)
                    if not data:
                        break
                    sink.sendall(data)
            except OSError:
                pass
            finally:
                for s in (source, sink):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

        threading.Thread(target=pump, args=(backend, tls), daemon=True).start()
        pump(tls, backend)

    def stop(self):
        self.running = False
        self.listener.close()
