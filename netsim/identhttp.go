package netsim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// RequestTimeout bounds each request HTTPTally makes.
const RequestTimeout = 2 * time.Second

// HTTPServer answers every request with "host=NAME\n", so a client can
// tell which real server answered.
type HTTPServer struct {
	name string
	l    net.Listener
	srv  *http.Server
	done chan struct{} // closed when Serve has returned
	err  error         // Serve's error; written before done is closed

	closeOnce sync.Once
	closeErr  error
}

// StartHTTPServer serves on l until Close. The server owns l.
func StartHTTPServer(l net.Listener, name string) *HTTPServer {
	s := &HTTPServer{name: name, l: l, done: make(chan struct{})}
	s.srv = &http.Server{
		Handler:           http.HandlerFunc(s.handle),
		ReadHeaderTimeout: RequestTimeout,
	}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
			s.err = err
		}
	}()
	return s
}

func (s *HTTPServer) handle(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain")
	fmt.Fprintf(w, "host=%s\n", s.name)
}

// Addr returns the address the server listens on.
func (s *HTTPServer) Addr() net.Addr { return s.l.Addr() }

// Close stops the server and its connections and waits for it to finish.
func (s *HTTPServer) Close() error {
	s.closeOnce.Do(func() {
		err := s.srv.Close()
		<-s.done
		s.closeErr = errors.Join(err, s.err)
	})
	return s.closeErr
}

// DialFunc opens a connection, as net.Dialer.DialContext does.
type DialFunc func(ctx context.Context, network, address string) (net.Conn, error)

// HTTPTally makes n GET requests for http://target/, each on a new
// connection opened with dial and bounded by RequestTimeout, one after the
// other, and counts the answers of HTTPServer by host name. The error
// reports the failed requests, if any; the tally holds the ones that
// succeeded either way.
func HTTPTally(ctx context.Context, dial DialFunc, target string, n int) (map[string]int, error) {
	tr := &http.Transport{DialContext: dial, DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	url := "http://" + target + "/"
	tally := make(map[string]int)
	var errs []error
	failed := 0
	for i := range n {
		if err := ctx.Err(); err != nil {
			failed += n - i
			errs = append(errs, err)
			break
		}
		name, err := identify(ctx, c, url)
		if err != nil {
			failed++
			if len(errs) < 3 {
				errs = append(errs, err)
			}
			continue
		}
		tally[name]++
	}
	if failed > 0 {
		return tally, fmt.Errorf("%d of %d requests to %s failed: %w", failed, n, target, errors.Join(errs...))
	}
	return tally, nil
}

func identify(ctx context.Context, c *http.Client, url string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, RequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1024))
	if err != nil {
		return "", fmt.Errorf("read answer: %w", err)
	}
	name, ok := strings.CutPrefix(strings.TrimSpace(string(b)), "host=")
	if resp.StatusCode != http.StatusOK || !ok {
		return "", fmt.Errorf("unexpected answer %s %q", resp.Status, b)
	}
	return name, nil
}
