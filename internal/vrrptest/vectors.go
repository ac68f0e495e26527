package vrrptest

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Frame is one captured Ethernet frame.
type Frame struct {
	File string // the pcap it came from, e.g. "vec-v2-ah.pcap"
	Line string // tcpdump's summary line
	Time time.Time
	Data []byte
}

// Dir returns the directory holding the captured vectors,
// ../shared/testdata/vrrp from the repository root.
func Dir(tb testing.TB) string {
	tb.Helper()
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	dir := filepath.Join(root, "..", "shared", "testdata", "vrrp")
	if _, err := os.Stat(dir); err != nil {
		tb.Skipf("test vectors not available: %v", err)
	}
	return dir
}

// Vectors returns every frame of vectors.txt, and of the pcaps that
// vectors.txt does not decode (vec-v2-ah.pcap).
func Vectors(tb testing.TB) []Frame {
	tb.Helper()
	dir := Dir(tb)
	f, err := os.Open(filepath.Join(dir, "vectors.txt"))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var out []Frame
	var file string
	var cur *Frame
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := s.Text()
		switch {
		case strings.HasPrefix(line, "################ "):
			file = strings.TrimPrefix(line, "################ ")
		case strings.HasPrefix(line, "\t0x"):
			fields := strings.Fields(line)
			for _, w := range fields[1:] {
				if len(w) != 4 && len(w) != 2 {
					break // the ASCII column
				}
				b, err := hex.DecodeString(w)
				if err != nil {
					break
				}
				cur.Data = append(cur.Data, b...)
			}
		case line != "" && line[0] >= '0' && line[0] <= '9':
			out = append(out, Frame{File: file, Line: line})
			cur = &out[len(out)-1]
		}
	}
	if err := s.Err(); err != nil {
		tb.Fatal(err)
	}
	ah, err := ReadPcap(filepath.Join(dir, "vec-v2-ah.pcap"))
	if err != nil {
		tb.Fatal(err)
	}
	return append(out, ah...)
}

// ReadPcap reads the frames of a little-endian, microsecond pcap file of
// Ethernet frames, as tcpdump writes them.
func ReadPcap(path string) ([]Frame, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(b) < 24 || binary.LittleEndian.Uint32(b) != 0xa1b2c3d4 {
		return nil, fmt.Errorf("%s: not a little-endian pcap file", path)
	}
	var out []Frame
	for off := 24; off+16 <= len(b); {
		n := int(binary.LittleEndian.Uint32(b[off+8:]))
		off += 16
		if off+n > len(b) {
			return nil, fmt.Errorf("%s: truncated record", path)
		}
		sec, usec := binary.LittleEndian.Uint32(b[off-16:]), binary.LittleEndian.Uint32(b[off-12:])
		out = append(out, Frame{File: filepath.Base(path), Time: time.Unix(int64(sec), int64(usec)*1000), Data: b[off : off+n]})
		off += n
	}
	return out, nil
}

// Select returns the frames of one pcap file.
func Select(frames []Frame, file string) []Frame {
	var out []Frame
	for _, f := range frames {
		if f.File == file {
			out = append(out, f)
		}
	}
	return out
}
