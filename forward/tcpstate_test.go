package forward

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// kernelInputOnly is the "INPUT-ONLY" part of tcp_states[] in Linux's
// net/netfilter/ipvs/ip_vs_proto_tcp.c, verbatim (the version with
// tcp_state_active_table, where an ACK in sNO leads to sES for sloppy_tcp).
const kernelInputOnly = `
/*        sNO, sES, sSS, sSR, sFW, sTW, sCL, sCW, sLA, sLI, sSA	*/
/*syn*/ {{sSR, sES, sES, sSR, sSR, sSR, sSR, sSR, sSR, sSR, sSR }},
/*fin*/ {{sCL, sFW, sSS, sTW, sFW, sTW, sCL, sCW, sLA, sLI, sTW }},
/*ack*/ {{sES, sES, sSS, sES, sFW, sTW, sCL, sCW, sCL, sLI, sES }},
/*rst*/ {{sCL, sCL, sCL, sSR, sCL, sCL, sCL, sCL, sLA, sLI, sCL }},
`

var kernelStates = map[string]ConnState{
	"sNO": TCPNone, "sES": TCPEstablished, "sSS": TCPSynSent, "sSR": TCPSynRecv,
	"sFW": TCPFinWait, "sTW": TCPTimeWait, "sCL": TCPClose, "sCW": TCPCloseWait,
	"sLA": TCPLastAck, "sLI": TCPListen, "sSA": TCPSynAck,
}

// TestConnNextMatchesKernel checks connNext against the kernel's table,
// parsed from its source text.
func TestConnNextMatchesKernel(t *testing.T) {
	rows := map[string]int{"syn": connRowSyn, "fin": connRowFin, "ack": connRowAck, "rst": connRowRst}
	var cols []ConnState
	seen := 0
	for line := range strings.Lines(kernelInputOnly) {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		var names []string
		for f := range strings.FieldsFuncSeq(line, func(r rune) bool { return !strings.ContainsRune("sNOESRFWTCLIA", r) }) {
			if len(f) == 3 && f[0] == 's' {
				names = append(names, f)
			}
		}
		if strings.HasPrefix(line, "/*        sNO") {
			for _, n := range names {
				cols = append(cols, kernelStates[n])
			}
			continue
		}
		row, ok := rows[line[2:5]]
		if !ok {
			t.Fatalf("unexpected line %q", line)
		}
		seen++
		for c, n := range names {
			from := cols[c]
			if got, want := connNext[row][from], kernelStates[n]; got != want {
				t.Errorf("%s in %v: got %v, kernel %v", line[2:5], from, got, want)
			}
		}
	}
	if seen != 4 || len(cols) != 11 {
		t.Fatalf("parsed %d rows, %d columns; want 4 and 11", seen, len(cols))
	}
	for s := TCPNone; s < UDPNormal; s++ {
		if got := connNext[connRowNone][s]; got != TCPClose {
			t.Errorf("no flags in %v: got %v, want CLOSE (set_tcp_state's default)", s, got)
		}
	}
	for r := range connRows {
		if got := connNext[r][UDPNormal]; got != UDPNormal {
			t.Errorf("row %d: UDP goes to %v", r, got)
		}
	}
}

func TestConnUpdateSequences(t *testing.T) {
	const (
		syn = TCPSyn
		fin = TCPFin
		rst = TCPRst
		ack = TCPAck
		psh = TCPPsh
	)
	// Each row follows the kernel's INPUT-ONLY table (see
	// kernelInputOnly): the state after each client packet.
	tests := []struct {
		name  string
		start ConnState
		flags []uint8
		want  []ConnState
	}{
		{"handshake, data, client closes", TCPNone,
			[]uint8{syn, ack, psh | ack, fin | ack, ack},
			[]ConnState{TCPSynRecv, TCPEstablished, TCPEstablished, TCPFinWait, TCPFinWait}},
		{"SYN retransmitted", TCPNone, []uint8{syn, syn}, []ConnState{TCPSynRecv, TCPSynRecv}},
		{"RST when established", TCPEstablished, []uint8{rst | ack}, []ConnState{TCPClose}},
		{"RST during the handshake keeps SYN_RECV", TCPNone, []uint8{syn, rst}, []ConnState{TCPSynRecv, TCPSynRecv}},
		{"FIN during the handshake", TCPNone, []uint8{syn, fin | ack}, []ConnState{TCPSynRecv, TCPTimeWait}},
		{"mid-flow ACK establishes (sloppy_tcp)", TCPNone, []uint8{ack}, []ConnState{TCPEstablished}},
		{"mid-flow FIN closes", TCPNone, []uint8{fin | ack}, []ConnState{TCPClose}},
		{"port reuse after TIME_WAIT", TCPTimeWait, []uint8{syn, ack}, []ConnState{TCPSynRecv, TCPEstablished}},
		{"SYN after CLOSE", TCPClose, []uint8{syn}, []ConnState{TCPSynRecv}},
		{"FIN then RST", TCPEstablished, []uint8{fin | ack, rst}, []ConnState{TCPFinWait, TCPClose}},
		{"no flag closes", TCPEstablished, []uint8{0}, []ConnState{TCPClose}},
		{"PSH alone closes", TCPEstablished, []uint8{psh}, []ConnState{TCPClose}},
		{"RST wins over SYN", TCPEstablished, []uint8{syn | rst}, []ConnState{TCPClose}},
		{"SYN wins over FIN", TCPNone, []uint8{syn | fin}, []ConnState{TCPSynRecv}},
		{"FIN wins over ACK", TCPSynRecv, []uint8{fin | ack}, []ConnState{TCPTimeWait}},
		{"ECE, CWR and URG are ignored", TCPSynRecv, []uint8{ack | 0xe0}, []ConnState{TCPEstablished}},
		{"RST in LAST_ACK", TCPLastAck, []uint8{rst}, []ConnState{TCPLastAck}},
		{"SYN_SENT stays on FIN and ACK", TCPSynSent, []uint8{fin, ack, syn}, []ConnState{TCPSynSent, TCPSynSent, TCPEstablished}},
		{"UDP stays UDP", UDPNormal, []uint8{0, 0}, []ConnState{UDPNormal, UDPNormal}},
	}
	st, err := NewStateTimeouts(Timeouts{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Conn{State: tt.start, Backend: 3}
			type step struct {
				State               ConnState
				Expires             Tick
				WasActive, IsActive bool
			}
			var got, want []step
			now := Tick(1 << 31)
			for i, f := range tt.flags {
				was, is := c.Update(f, now, &st)
				got = append(got, step{c.State, c.Expires, was, is})
				prev := tt.start
				if i > 0 {
					prev = tt.want[i-1]
				}
				want = append(want, step{tt.want[i], now + st.Of(tt.want[i]), prev.Active(), tt.want[i].Active()})
				now += 1000
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("states (-want +got):\n%s", diff)
			}
			if c.Backend != 3 {
				t.Errorf("Update changed Backend to %d", c.Backend)
			}
		})
	}
}

func TestConnUpdateInvalidState(t *testing.T) {
	st, _ := NewStateTimeouts(Timeouts{})
	for _, s := range []ConnState{0, numConnStates, 255} {
		c := Conn{State: s, Expires: 7}
		was, is := c.Update(TCPSyn, 100, &st)
		if diff := cmp.Diff(Conn{State: s, Expires: 7}, c, connCmp); diff != "" || was || is {
			t.Errorf("state %d: Update changed the entry (-want +got):\n%s; active %v %v", s, diff, was, is)
		}
	}
}

func TestConnStateActive(t *testing.T) {
	// tcp_state_active_table: ESTABLISHED and the SYN states are active.
	want := map[ConnState]bool{TCPEstablished: true, TCPSynSent: true, TCPSynRecv: true, TCPSynAck: true}
	for s := ConnState(0); s < 20; s++ {
		if got := s.Active(); got != want[s] {
			t.Errorf("%v.Active() = %v, want %v", s, got, want[s])
		}
	}
}

func TestConnStateString(t *testing.T) {
	tests := []struct {
		s    ConnState
		want string
	}{
		{TCPNone, "NONE"},
		{TCPEstablished, "ESTABLISHED"},
		{TCPSynRecv, "SYN_RECV"},
		{TCPSynAck, "SYNACK"},
		{UDPNormal, "UDP"},
		{0, "connstate(0)"},
		{numConnStates, "connstate(13)"},
	}
	for _, tt := range tests {
		if got := tt.s.String(); got != tt.want {
			t.Errorf("ConnState(%d).String() = %q, want %q", uint8(tt.s), got, tt.want)
		}
	}
}

func TestNewStateTimeouts(t *testing.T) {
	ipvs := map[ConnState]Tick{
		TCPNone: 2000, TCPEstablished: 900_000, TCPSynSent: 120_000, TCPSynRecv: 60_000,
		TCPFinWait: 120_000, TCPTimeWait: 120_000, TCPClose: 10_000, TCPCloseWait: 60_000,
		TCPLastAck: 30_000, TCPListen: 120_000, TCPSynAck: 120_000, UDPNormal: 300_000,
	}
	with := func(over map[ConnState]Tick) map[ConnState]Tick {
		m := make(map[ConnState]Tick)
		for s, v := range ipvs {
			m[s] = v
		}
		for s, v := range over {
			m[s] = v
		}
		return m
	}
	tests := []struct {
		name    string
		to      Timeouts
		want    map[ConnState]Tick
		wantErr string
	}{
		{name: "IPVS defaults", want: ipvs},
		{name: "lvs_timeouts tcp tcpfin udp", to: Timeouts{TCP: 2 * time.Hour, TCPFin: 30 * time.Second, UDP: time.Minute},
			want: with(map[ConnState]Tick{TCPEstablished: 7_200_000, TCPFinWait: 30_000, UDPNormal: 60_000})},
		{name: "rounded up to a tick", to: Timeouts{UDP: 1500 * time.Microsecond},
			want: with(map[ConnState]Tick{UDPNormal: 2})},
		{name: "largest", to: Timeouts{TCP: MaxTimeout}, want: with(map[ConnState]Tick{TCPEstablished: Tick(MaxTimeout / time.Millisecond)})},
		{name: "negative", to: Timeouts{TCPFin: -time.Second}, wantErr: "connection timeouts: tcpfin -1s: expected 0 to 240h0m0s"},
		{name: "too long", to: Timeouts{UDP: MaxTimeout + time.Millisecond}, wantErr: "connection timeouts: udp 240h0m0.001s: expected 0 to 240h0m0s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := NewStateTimeouts(tt.to)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := make(map[ConnState]Tick)
			for s := ConnState(0); s <= numConnStates; s++ {
				if v := st.Of(s); v != 0 {
					got[s] = v
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("timeouts (-want +got):\n%s", diff)
			}
		})
	}
}

func TestConnUpdateAllocs(t *testing.T) {
	st, _ := NewStateTimeouts(Timeouts{})
	c := Conn{State: TCPNone}
	if n := testing.AllocsPerRun(100, func() { c.Update(TCPAck, 5, &st) }); n != 0 {
		t.Errorf("Update allocates %v times", n)
	}
}
