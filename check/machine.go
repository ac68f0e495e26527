package check

import (
	"log/slog"
	"time"

	"github.com/govs-lb/govs/config"
)

// apply runs a checker's retry logic on the result of a probe and returns
// the delay before the next one. Each checker type follows its keepalived
// 2.2.7 counterpart (tcp_epilog, http's epilog, misc_check_child_thread,
// dns_final, icmp_epilog, udp_epilog). They agree on what matters:
//
//   - a checker goes down after retry failed retries in a row (retry+1
//     failures), delay_before_retry apart, and up after one success;
//   - a checker starts with its retries used up, so that the first probe
//     decides at once (keepalived sets retry_it = retry at start);
//   - the next probe is delay_loop after this one.
//
// and differ in details kept here: TCP_CHECK goes on retrying while down,
// HTTP_GET checks one url block per delay_loop and stays on a failed one,
// MISC_CHECK times its runs from their start.
func apply(c *checker, r result, fx *effects) time.Duration {
	cfg := c.cfg()
	if !r.ok {
		c.reason = r.reason
		if c.up && cfg.LogAllFailures {
			fx.log(slog.LevelInfo, "check attempt failed", slog.String("service", c.rs.svc.name),
				slog.String("real_server", c.rs.name()), slog.String("checker", c.spec.name),
				slog.String("reason", r.reason), slog.Int("retry", c.retryIt), slog.Int("retries", cfg.Retry))
		}
	}
	switch cfg.Kind {
	case config.CheckTCP:
		return applyTCP(c, r.ok, fx)
	case config.CheckHTTP, config.CheckSSL:
		return applyHTTP(c, r.ok, fx)
	case config.CheckMisc:
		return applyMisc(c, r, fx)
	default:
		return applyPlain(c, r.ok, fx)
	}
}

// applyTCP is tcp_epilog: retries go on while the checker is down.
func applyTCP(c *checker, ok bool, fx *effects) time.Duration {
	cfg := c.cfg()
	delay := cfg.DelayLoop
	if ok || c.retryIt >= cfg.Retry {
		c.retryIt = 0
		if ok != c.up || !c.hasRun { // a change, or the first result
			verdict(c, ok, fx)
		}
	} else {
		delay = cfg.DelayBeforeRetry
		c.retryIt++
	}
	c.hasRun = true
	return delay
}

// applyPlain is the epilog of PING_CHECK, UDP_CHECK and DNS_CHECK: retries
// only while the checker is up.
func applyPlain(c *checker, ok bool, fx *effects) time.Duration {
	cfg := c.cfg()
	delay := cfg.DelayLoop
	if ok || ((c.up || !c.hasRun) && c.retryIt >= cfg.Retry) {
		c.retryIt = 0
		if ok != c.up || !c.hasRun { // a change, or the first result
			verdict(c, ok, fx)
		}
	} else if c.up {
		delay = cfg.DelayBeforeRetry
		c.retryIt++
	}
	c.hasRun = true
	return delay
}

// applyMisc is misc_check_child_thread. Exit 0 passes; with misc_dynamic,
// 2..255 passes too and sets the weight to the status minus 2. The delay
// returned is from the run's start.
func applyMisc(c *checker, r result, fx *effects) time.Duration {
	cfg := c.cfg()
	if r.ok {
		if cfg.Misc.Dynamic && r.status != c.lastExit {
			var delta int64
			if r.status != 0 {
				delta = int64(r.status-2) - int64(c.rs.cfg.Weight)
			}
			setDynamicWeight(c, delta, fx)
			c.lastExit = r.status
		}
		if !c.up || !c.hasRun {
			verdict(c, true, fx)
		}
		c.retryIt = 0
	} else if c.up || !c.hasRun {
		if c.retryIt < cfg.Retry {
			c.retryIt++
		} else {
			c.retryIt = 0
			if c.curWeight != 0 {
				setDynamicWeight(c, 0, fx)
			}
			c.lastExit = r.status
			verdict(c, false, fx)
		}
	}
	c.hasRun = true
	if c.retryIt > 0 {
		return cfg.DelayBeforeRetry
	}
	return cfg.DelayLoop
}

// applyHTTP is HTTP_GET's and SSL_GET's epilog: each probe fetches one url
// block. A success moves to the next block, a full pass with no failed
// block puts the checker up. A failure retries the same block
// delay_before_retry later; after the retries it puts the checker down and
// stays on that block, probing it every max(delay_before_retry,
// delay_loop), and once it passes all blocks are checked again.
func applyHTTP(c *checker, ok bool, fx *effects) time.Duration {
	cfg := c.cfg()
	var delay time.Duration
	if ok {
		// REGISTER_CHECKER_NEW
		c.url++
		c.retryIt = 0
		switch {
		case c.url >= len(cfg.HTTP.URLs) && c.failedURL < 0:
			if !c.up || !c.hasRun {
				verdict(c, true, fx)
				c.hasRun = true
			}
			c.url, c.retryIt = 0, 0
		case c.failedURL >= 0:
			c.failedURL = -1
			c.url, c.retryIt = 0, 0
		}
		delay = cfg.DelayLoop
		if !c.hasRun {
			c.retryIt = cfg.Retry
		}
	} else {
		if c.up || !c.hasRun {
			c.hasRun = true
			// REGISTER_CHECKER_RETRY
			c.retryIt++
			if c.retryIt > cfg.Retry {
				if c.up {
					verdict(c, false, fx)
				}
				c.failedURL = c.url
			}
		}
		// else REGISTER_CHECKER_FAILED: keep probing the failed block.
		delay = cfg.DelayBeforeRetry
		if c.failedURL >= 0 {
			delay = max(cfg.DelayBeforeRetry, cfg.DelayLoop)
		}
	}
	if cfg.HTTP.FastRecovery && (!c.hasRun || (!c.up && c.failedURL < 0)) {
		delay = 0
	}
	return delay
}
