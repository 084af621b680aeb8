package web

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/parley-im/parley/internal/api"
)

// maxRefusing bounds the connections being told "busy" at once; beyond
// it, one more is closed without a word.
const maxRefusing = 8

// refuseWithin bounds the telling of one.
const refuseWithin = 2 * time.Second

// limitListener serves at most n connections at once; one more is
// answered 503 busy (its request read, briefly) and closed, at once.
type limitListener struct {
	net.Listener
	slots    chan struct{}
	refusing chan struct{}
	busy     []byte // the whole answer
}

func newLimitListener(l net.Listener, n int) *limitListener {
	var body bytes.Buffer
	json.NewEncoder(&body).Encode(api.Envelope{Error: &api.Error{Code: CodeBusy,
		Message: fmt.Sprintf("parley web serves %d connections at once, and as many are open", n),
		Hint:    "close other tabs or windows of the app, then reload this one"}})
	head := "HTTP/1.1 503 Service Unavailable\r\nContent-Type: " + api.JSON + "\r\nCache-Control: no-store\r\n" +
		"X-Content-Type-Options: nosniff\r\nContent-Security-Policy: " + csp + "\r\nConnection: close\r\nContent-Length: " +
		strconv.Itoa(body.Len()) + "\r\n\r\n"
	return &limitListener{Listener: l, slots: make(chan struct{}, n), refusing: make(chan struct{}, maxRefusing),
		busy: append([]byte(head), body.Bytes()...)}
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		select {
		case l.slots <- struct{}{}:
			return &limitConn{Conn: c, release: func() { <-l.slots }}, nil
		default:
		}
		select {
		case l.refusing <- struct{}{}:
			go l.refuse(c)
		default:
			c.Close()
		}
	}
}

// refuse reads c's request header (a client that has not sent it all
// when the answer comes may lose the answer) and answers busy.
func (l *limitListener) refuse(c net.Conn) {
	defer func() { <-l.refusing }()
	defer c.Close()
	c.SetDeadline(time.Now().Add(refuseWithin))
	r := bufio.NewReaderSize(c, 4<<10)
	for n := 0; n < 4<<10; {
		line, err := r.ReadSlice('\n')
		n += len(line)
		if err != nil || len(bytes.TrimRight(line, "\r\n")) == 0 {
			break
		}
	}
	c.Write(l.busy)
}

// limitConn gives its slot back once closed.
type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
