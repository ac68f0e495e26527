package daemon

import (
	"fmt"
	"net/netip"

	"github.com/govs-lb/govs/config"
	"github.com/govs-lb/govs/forward"
)

// ids gives virtual services and real servers the stable numbers the data
// plane keys its connection entries, persistence templates and counters
// by: the same service or real server gets the same ID in every snapshot of
// one daemon. A freed ID is reused only when fresh ones run out, so that a
// connection entry of a removed real server, which lives until its timeout,
// never lands on a newcomer. Not safe for concurrent use: the daemon's
// reload path owns it.
type ids struct {
	services map[string]uint32
	backends map[string]uint32
	next     uint32
	free     []uint32 // freed by the previous snapshot: reusable now
}

func newIDs() *ids {
	return &ids{services: map[string]uint32{}, backends: map[string]uint32{}, next: 1}
}

// serviceKey names a virtual service by what identifies it to clients.
func serviceKey(vs *config.VirtualServer) string {
	if vs.Group != "" {
		return "group " + vs.Group + "/" + vs.Protocol.String()
	}
	return netip.AddrPortFrom(vs.Addr, vs.Port).String() + "/" + vs.Protocol.String()
}

func backendKey(svc string, rs *config.RealServer) string {
	return svc + " " + rs.AddrPort().String()
}

func sorryKey(svc string, ss *config.SorryServer) string {
	return svc + " sorry " + netip.AddrPortFrom(ss.Addr, ss.Port).String()
}

func (m *ids) take() (uint32, error) {
	if m.next <= forward.MaxID {
		m.next++
		return m.next - 1, nil
	}
	if n := len(m.free); n > 0 {
		id := m.free[0]
		m.free = m.free[1:]
		return id, nil
	}
	return 0, fmt.Errorf("more than %d virtual and real servers", forward.MaxID)
}

// assign returns the IDs for the keys of one snapshot, keeping the IDs of
// keys it has seen before and freeing those of keys that are gone.
func (m *ids) assign(services, backends []string) (map[string]uint32, map[string]uint32, error) {
	keepS, keepB := map[string]uint32{}, map[string]uint32{}
	var freed []uint32
	for k, id := range m.services {
		keepS[k] = id
	}
	for k, id := range m.backends {
		keepB[k] = id
	}
	wantS, wantB := map[string]bool{}, map[string]bool{}
	for _, k := range services {
		wantS[k] = true
	}
	for _, k := range backends {
		wantB[k] = true
	}
	for k, id := range keepS {
		if !wantS[k] {
			delete(keepS, k)
			freed = append(freed, id)
		}
	}
	for k, id := range keepB {
		if !wantB[k] {
			delete(keepB, k)
			freed = append(freed, id)
		}
	}
	for _, k := range services {
		if _, ok := keepS[k]; !ok {
			id, err := m.take()
			if err != nil {
				return nil, nil, err
			}
			keepS[k] = id
		}
	}
	for _, k := range backends {
		if _, ok := keepB[k]; !ok {
			id, err := m.take()
			if err != nil {
				return nil, nil, err
			}
			keepB[k] = id
		}
	}
	m.services, m.backends = keepS, keepB
	m.free = append(m.free, freed...)
	return keepS, keepB, nil
}
