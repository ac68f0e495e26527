package check

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/govs-lb/govs/config"
	"github.com/govs-lb/govs/internal/checktest"
)

func md5hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

func serverAddr(t testing.TB, url string) netip.AddrPort {
	t.Helper()
	return netip.MustParseAddrPort(strings.TrimPrefix(strings.TrimPrefix(url, "http://"), "https://"))
}

// TestHTTPGet runs HTTP_GET against net/http servers on loopback.
func TestHTTPGet(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "hello") })
	mux.HandleFunc("/moved", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/ok", http.StatusMovedPermanently) })
	mux.HandleFunc("/error", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "boom", http.StatusServiceUnavailable) })
	mux.HandleFunc("/host", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, r.Host) })
	srv := httptest.NewServer(mux)
	defer srv.Close()
	addr := serverAddr(t, srv.URL)

	tests := []struct {
		name    string
		checker string
		vs, rs  string
		ok      bool
		step    int
	}{
		{"200 passes", "url { path /ok }", "", "", true, 0},
		{"404 fails", "url { path /missing }", "", "", false, 0},
		{"301 fails by default", "url { path /moved }", "", "", false, 0},
		{"301 accepted", "url { path /moved\n status_code 301 }", "", "", true, 0},
		{"range", "url { path /error\n status_code 200-299 500-503 }", "", "", true, 0},
		{"outside the ranges", "url { path /error\n status_code 200-299 500-502 }", "", "", false, 0},
		{"digest", "url { path /ok\n digest " + md5hex("hello") + " }", "", "", true, 0},
		{"wrong digest", "url { path /ok\n digest " + md5hex("hullo") + " }", "", "", false, 0},
		{"regex", "url { path /ok\n regex \"hel+o\" }", "", "", true, 0},
		{"regex no match", "url { path /ok\n regex \"bye\" }", "", "", false, 0},
		{"regex_no_match inverts", "url { path /ok\n regex \"bye\"\n regex_no_match }", "", "", true, 0},
		{"regex in the headers, as keepalived", "url { path /ok\n regex \"^HTTP/1.[01] 200\" }", "", "", true, 0},
		{"regex before regex_min_offset", "url { path /ok\n regex \"HTTP\"\n regex_min_offset 5 }", "", "", false, 0},
		{"regex after regex_max_offset", "url { path /ok\n regex \"hello\"\n regex_max_offset 10 }", "", "", false, 0},
		{"first url block", "url { path /ok }\n url { path /error }", "", "", true, 0},
		{"second url block", "url { path /ok }\n url { path /error }", "", "", false, 1},
		{"url virtualhost", "url { path /host\n virtualhost a.example\n digest " + md5hex("a.example") + " }", "", "", true, 0},
		{"checker virtualhost", "virtualhost b.example\n url { path /host\n digest " + md5hex("b.example") + " }", "", "", true, 0},
		{"real server virtualhost", "url { path /host\n digest " + md5hex("c.example") + " }", "", "virtualhost c.example\n", true, 0},
		{"virtual server virtualhost", "url { path /host\n digest " + md5hex("d.example") + " }", " virtualhost d.example\n", "", true, 0},
		{"default Host: address and port", "url { path /host\n digest " + md5hex(addr.String()) + " }", "", "", true, 0},
		{"http_protocol 1.1", "http_protocol 1.1\n url { path /ok\n digest " + md5hex("hello") + " }", "", "", true, 0},
		{"http_protocol 1.0C", "http_protocol 1.0C\n url { path /ok }", "", "", true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, d := probeOnce(t, serverAt(addr, tt.vs, tt.rs+"HTTP_GET {\n connect_timeout 2\n"+tt.checker+"\n}"), tt.step)
			if r.ok != tt.ok {
				t.Errorf("ok = %v (%s), want %v", r.ok, r.reason, tt.ok)
			}
			if d > time.Second {
				t.Errorf("probe took %v", d)
			}
		})
	}
}

// TestHTTPRequest checks the request bytes: keepalived's, for each
// http_protocol.
func TestHTTPRequest(t *testing.T) {
	s := checktest.NewRawServer(t, "HTTP/1.0 200 OK\r\n\r\n", false)
	host := s.Addr().String()
	tests := []struct {
		proto, vhost, want string
	}{
		{"1.0", "", "GET /p?q=1 HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nHost: " + host + "\r\n\r\n"},
		{"1.0C", "", "GET /p?q=1 HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nConnection: close\r\nHost: " + host + "\r\n\r\n"},
		{"1.1", "www.example", "GET /p?q=1 HTTP/1.1\r\nUser-Agent: KeepAliveClient\r\nConnection: close\r\nHost: www.example\r\n\r\n"},
	}
	for i, tt := range tests {
		vh := ""
		if tt.vhost != "" {
			vh = "virtualhost " + tt.vhost + "\n"
		}
		r, _ := probeOnce(t, serverAt(s.Addr(), "", "HTTP_GET {\n http_protocol "+tt.proto+"\n "+vh+"url { path /p?q=1 }\n}"), 0)
		if !r.ok {
			t.Errorf("%s: %s", tt.proto, r.reason)
		}
		reqs := s.Requests()
		if len(reqs) != i+1 {
			t.Fatalf("%d requests, want %d", len(reqs), i+1)
		}
		if diff := cmp.Diff(tt.want, string(reqs[i])); diff != "" {
			t.Errorf("http_protocol %s: request (-want +got)\n%s", tt.proto, diff)
		}
	}
	// IPv6 without virtualhost: Host: [ADDR]:PORT.
	got := string(httpRequest(&config.URL{Path: "/"}, "1.0", netip.MustParseAddrPort("[2001:db8::1]:8080")))
	if want := "GET / HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nHost: [2001:db8::1]:8080\r\n\r\n"; got != want {
		t.Errorf("IPv6 request %q, want %q", got, want)
	}
}

// TestHTTPResponses feeds raw responses keepalived treats in its own way.
func TestHTTPResponses(t *testing.T) {
	long := "HTTP/1.0 200 OK\r\nX-Pad: " + strings.Repeat("a", 5000) + "\r\n\r\nbody"
	tests := []struct {
		name, response, url string
		linger              bool
		ok                  bool
	}{
		{"status without reason phrase", "HTTP/1.0 200\r\n\r\nbody", "path /", false, false},
		{"status with empty reason", "HTTP/1.0 200 \r\n\r\nbody", "path /", false, true},
		{"no header end", "HTTP/1.0 200 OK\r\nbody", "path /", false, false},
		{"headers over 4 KiB", long, "path /", false, false},
		{"empty answer", "", "path /", false, false},
		{"digest over Content-Length bytes only", "HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhelloEXTRA", "path /\n digest " + md5hex("hello"), false, true},
		{"digest of a chunked body covers the framing", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", "path /\n digest " + md5hex("5\r\nhello\r\n0\r\n\r\n"), false, true},
		{"server keeps the connection open", "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", "path /", true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := checktest.NewRawServer(t, tt.response, tt.linger)
			r, d := probeOnce(t, serverAt(s.Addr(), "", "HTTP_GET {\n connect_timeout 0.3\n url { "+tt.url+" }\n}"), 0)
			if r.ok != tt.ok {
				t.Errorf("ok = %v (%s), want %v", r.ok, r.reason, tt.ok)
			}
			if d > 1500*time.Millisecond {
				t.Errorf("probe took %v", d)
			}
		})
	}
}

// TestHTTPMisbehaving: a server that sends 10 GB, one that hangs, one that
// trickles: each check ends within its bounds and reads a bounded amount.
func TestHTTPMisbehaving(t *testing.T) {
	t.Run("10 GB without digest passes", func(t *testing.T) {
		f := checktest.NewFlood(t, "HTTP/1.0 200 OK\r\n\r\n")
		r, d := probeOnce(t, serverAt(f.Addr(), "", "HTTP_GET {\n connect_timeout 2\n url { path / }\n}"), 0)
		if !r.ok || d > 2*time.Second {
			t.Errorf("ok = %v (%s) after %v, want a pass within connect_timeout", r.ok, r.reason, d)
		}
		time.Sleep(50 * time.Millisecond)
		if sent := f.Sent.Load(); sent > 64<<20 {
			t.Errorf("the server sent %d bytes before the check closed", sent)
		}
	})
	t.Run("10 GB with digest fails", func(t *testing.T) {
		f := checktest.NewFlood(t, "HTTP/1.0 200 OK\r\n\r\n")
		r, d := probeOnce(t, serverAt(f.Addr(), "", "HTTP_GET {\n connect_timeout 2\n url { path /\n digest "+md5hex("x")+" }\n}"), 0)
		if r.ok || d > 2*time.Second {
			t.Errorf("ok = %v (%s) after %v, want a failure within connect_timeout", r.ok, r.reason, d)
		}
	})
	t.Run("hung server", func(t *testing.T) {
		h := checktest.NewTrickle(t, 0)
		r, d := probeOnce(t, serverAt(h.Addr(), "", "HTTP_GET {\n connect_timeout 0.3\n url { path / }\n}"), 0)
		if r.ok || d < 250*time.Millisecond || d > time.Second {
			t.Errorf("ok = %v (%s) after %v, want a failure after connect_timeout 0.3 s", r.ok, r.reason, d)
		}
	})
	t.Run("trickling server", func(t *testing.T) {
		h := checktest.NewTrickle(t, 50*time.Millisecond)
		r, d := probeOnce(t, serverAt(h.Addr(), "", "HTTP_GET {\n connect_timeout 0.3\n url { path / }\n}"), 0)
		if r.ok || d < 800*time.Millisecond || d > 1500*time.Millisecond {
			t.Errorf("ok = %v (%s) after %v, want a failure after 3 connect_timeouts", r.ok, r.reason, d)
		}
	})
}

// TestSSLGet: TLS without certificate verification, SNI only with
// enable_sni, and a plain HTTP server fails the handshake.
func TestSSLGet(t *testing.T) {
	var mu sync.Mutex
	var sni []string
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		sni = append(sni, r.TLS.ServerName)
		mu.Unlock()
		fmt.Fprint(w, "secure")
	}))
	srv.StartTLS() // a self-signed certificate for example.com
	defer srv.Close()
	addr := serverAddr(t, srv.URL)

	r, _ := probeOnce(t, serverAt(addr, "", "SSL_GET {\n connect_timeout 2\n url { path /\n digest "+md5hex("secure")+" }\n}"), 0)
	if !r.ok {
		t.Errorf("self-signed certificate: %s", r.reason)
	}
	r, _ = probeOnce(t, serverAt(addr, "", "SSL_GET {\n connect_timeout 2\n enable_sni\n virtualhost www.example\n url { path / }\n}"), 0)
	if !r.ok {
		t.Errorf("with SNI: %s", r.reason)
	}
	mu.Lock()
	if diff := cmp.Diff([]string{"", "www.example"}, sni); diff != "" {
		t.Errorf("server names (-want +got)\n%s", diff)
	}
	mu.Unlock()

	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer plain.Close()
	r, d := probeOnce(t, serverAt(serverAddr(t, plain.URL), "", "SSL_GET {\n connect_timeout 1\n url { path / }\n}"), 0)
	if r.ok || d > time.Second {
		t.Errorf("TLS to a plain HTTP server: ok = %v (%s) after %v", r.ok, r.reason, d)
	}
}
