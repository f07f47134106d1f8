package runtime

import "fmt"

// listenTimedOut decides what follows listen_timeout passing in waiting-ready: with
// ready_on_timeout, an instance that only lacks its ready signal is put online anyway, as PM2
// does after listen_timeout; otherwise it is stopped and errored, and the reason says how to
// signal readiness. One that does not accept on its port behind the proxy fails either way:
// the proxy would send it connections it cannot take.
func (m *machine) listenTimedOut() stateFn {
	in, r, s := m.in, m.run, m.spec
	if !r.signalled && s.ReadyOnTimeout {
		r.signalled = true
		if m.markReady(fmt.Sprintf("online (no ready signal within listen_timeout %s; ready_on_timeout)", s.ListenTimeout)) {
			return (*machine).online
		}
	}
	var reason string
	switch {
	case !r.signalled:
		reason = fmt.Sprintf("not ready within listen_timeout %s: wait_ready waits for the app to say it is ready "+
			"(Node: process.send('ready'); any language: READY=1 to the unix datagram socket in $NOTIFY_SOCKET); "+
			"ready_on_timeout = true puts it online after listen_timeout instead, as PM2 does", s.ListenTimeout)
	case !r.accepting:
		reason = fmt.Sprintf("not accepting on its port 127.0.0.1:%d (PORT) within listen_timeout %s", in.backendPort, s.ListenTimeout)
	case !r.health.readyPassed():
		reason = r.health.notReadyReason(ReadyLimit(s))
	default:
		reason = fmt.Sprintf("not ready within listen_timeout %s", s.ListenTimeout)
	}
	return m.stopping(reason, afterErrored, nil)
}
