// Package natstest runs a real NATS server with JetStream (nats-server,
// embedded from its Go module, so tests need nothing installed) on
// 127.0.0.1, for tests and benchmarks of hubs that share an event log.
//
// It is for tests and benchmarks only and must not be imported by a
// program.
package natstest

import (
	"fmt"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
)

// Server is a running NATS server.
type Server struct {
	URL string
	s   *natsserver.Server
}

// Run starts a server on a free port of 127.0.0.1 keeping JetStream data
// under dir. Shutdown stops it.
func Run(dir string) (*Server, error) {
	s, err := natsserver.NewServer(&natsserver.Options{
		Host:      "127.0.0.1",
		Port:      -1, // a free port
		JetStream: true,
		StoreDir:  dir,
		NoLog:     true,
		NoSigs:    true,
	})
	if err != nil {
		return nil, fmt.Errorf("natstest: %w", err)
	}
	go s.Start()
	if !s.ReadyForConnections(30 * time.Second) {
		s.Shutdown()
		return nil, fmt.Errorf("natstest: the NATS server did not start")
	}
	return &Server{URL: s.ClientURL(), s: s}, nil
}

// Start runs a server until the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	srv, err := Run(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	return srv
}

// Shutdown stops the server.
func (s *Server) Shutdown() {
	s.s.Shutdown()
	s.s.WaitForShutdown()
}
