//go:build !linux

package forward

// The ingress guard needs Linux nftables; see nft_linux.go.

type IngressGuard struct{}

func InstallIngressGuard(int, string, []string, []FilterService) (*IngressGuard, error) {
	return nil, errUnimplemented
}

func (*IngressGuard) Update([]FilterService) error { return errUnimplemented }

func (*IngressGuard) Remove() error { return nil }

func RemoveStaleIngressGuard(int, string) error { return errUnimplemented }
