package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/internal/await"
)

// selfSigned writes a certificate for 127.0.0.1 and its key.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "hubd test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// TestTLSFromConfigFile: hubd configured only by a config file serves
// HTTPS with the given certificate, and hub_info names the public URL.
func TestTLSFromConfigFile(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)
	cfg, _ := json.Marshal(map[string]any{
		"listen": "127.0.0.1:0", "public-url": "https://hub.test", "data": filepath.Join(dir, "data"),
		"tls-cert": certFile, "tls-key": keyFile, "server-name": "tls-test",
	})
	cfgFile := filepath.Join(dir, "hubd.json")
	os.WriteFile(cfgFile, cfg, 0o600)
	cmd := exec.Command(hubdBin, "--config", cfgFile)
	var stdout, logs syncBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	defer func() { cmd.Process.Kill(); <-done }()
	url, addr := servedAt(t, &stdout, done, &logs)
	if url != "https://"+addr {
		t.Fatalf("hubd serves %s, not HTTPS", url)
	}
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	res := await.Value(t, time.Minute, "an HTTPS answer from hubd", func() (*http.Response, error) {
		return client.Get(url + "/hub_info")
	})
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(b), `"read_url_prefix":"https://hub.test/read/"`) || !strings.Contains(string(b), "tls-test") {
		t.Fatalf("hub_info over TLS: %d %s", res.StatusCode, b)
	}
	// Plain HTTP to the TLS port is refused.
	if res, err := http.Get("http://" + addr + "/hub_info"); err == nil && res.StatusCode == 200 {
		t.Fatal("plain HTTP served on the TLS listener")
	}
}
