package userevents_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/wsk-route/wsk-route/internal/userevents"
)

// brokerTLS makes a CA and a certificate for 127.0.0.1 signed by it; it
// returns the broker's TLS configuration and the CA's PEM file.
func brokerTLS(t *testing.T) (*tls.Config, string) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test kafka CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "kafka"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, MinVersion: tls.VersionTLS12}, caFile
}

// TestPublishTLS publishes to a broker that speaks only TLS, trusting its
// CA from a PEM file (LoadTLS), and reads the event back over TLS.
func TestPublishTLS(t *testing.T) {
	serverTLS, caFile := brokerTLS(t)
	brokers := startBroker(t, []string{"events"}, kfake.TLS(serverTLS))
	clientTLS, err := userevents.LoadTLS(caFile, "", "")
	if err != nil {
		t.Fatal(err)
	}
	p, err := userevents.NewPublisher(userevents.PublisherConfig{Kafka: userevents.Kafka{Brokers: brokers,
		Protocol: userevents.ProtocolSSL, TLS: clientTLS}})
	if err != nil {
		t.Fatal(err)
	}
	runPublisher(t, p)
	p.Publish(stepEvent(7))
	sc := sarama.NewConfig()
	sc.Net.TLS.Enable, sc.Net.TLS.Config = true, clientTLS
	got := consumeRaw(t, brokers, "events", 1, sc)
	if e, err := userevents.Parse(got[0]); err != nil || e.Activation.ActivationID != stepEvent(7).Activation.ActivationID {
		t.Errorf("read %s (%v), want step 7's event", got[0], err)
	}
}
