package vrrp

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/subtle"
)

// ahICV computes keepalived's AH integrity check value (frozen, see
// keepalived's vrrp.c vrrp_update_pkt and vrrp_in_chk_ipsecah): HMAC-MD5
// keyed with the 8 bytes of authentication data, over the packet with the
// IP header's mutable fields zeroed (TOS, flags and fragment offset, header
// checksum, and the TTL when the advert is unicast) and the ICV zeroed,
// truncated to 96 bits. ihl is the IP header length.
func ahICV(pkt []byte, ihl int, key []byte, unicast bool) [12]byte {
	hdr := make([]byte, ihl+ahLen)
	copy(hdr, pkt[:ihl+ahLen])
	hdr[1] = 0            // TOS
	hdr[6], hdr[7] = 0, 0 // flags, fragment offset
	hdr[10], hdr[11] = 0, 0
	if unicast {
		hdr[8] = 0
	}
	clear(hdr[ihl+12 : ihl+ahLen])
	m := hmac.New(md5.New, key)
	m.Write(hdr)
	m.Write(pkt[ihl+ahLen:])
	var icv [12]byte
	copy(icv[:], m.Sum(nil))
	return icv
}

// verifyAH reports whether a parsed packet's AH ICV is right for key, and
// its SPI is its source address, as keepalived checks.
func (p *Packet) verifyAH(key []byte, unicast bool) bool {
	if p.AH == nil || p.raw == nil {
		return false
	}
	icv := ahICV(p.raw, p.ihl, key, unicast)
	if subtle.ConstantTimeCompare(icv[:], p.AH.ICV[:]) != 1 {
		return false
	}
	s := p.Src.As4()
	return p.AH.SPI == uint32(s[0])<<24|uint32(s[1])<<16|uint32(s[2])<<8|uint32(s[3])
}
