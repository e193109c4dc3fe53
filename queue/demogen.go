package queue

import (
	"bufio"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"time"
)

// Generated demo messages: the N of LoadDemo, and the benchmarks' queues.

// Domain pools for generated messages: (name, weight) for the first recipient
// domain. gmail.com takes a quarter of the messages, so filters on it match about
// 250,000 of a million.
var bigDomains = []struct {
	name   string
	weight float64
}{
	{"gmail.com", 0.25}, {"outlook.com", 0.08}, {"hotmail.com", 0.05}, {"yahoo.com", 0.05},
	{"icloud.com", 0.04}, {"yahoo.co.jp", 0.03}, {"gmx.de", 0.03}, {"web.de", 0.02},
	{"mail.ru", 0.02}, {"qq.com", 0.02}, {"orange.fr", 0.02}, {"comcast.net", 0.02},
	{"proton.me", 0.01}, {"aol.com", 0.01}, {"libero.it", 0.01}, {"naver.com", 0.01},
	{"t-online.de", 0.01}, {"btinternet.com", 0.01}, {"uol.com.br", 0.01}, {"seznam.cz", 0.01},
}

// A reply a remote server may give, with the domain-level details Stalwart would
// record for it.
type reply struct {
	code     int
	enhanced string
	message  string
}

// generateDemo produces n realistic messages, deterministic for seed and now,
// created over the four days before now in ascending id order, and calls fn for
// each with its synthetic raw text. The messages have many senders and domains
// (gmail.com on about a quarter of them), about 5% bounces, multi-recipient and
// multi-domain messages, every status with realistic SMTP replies, sizes from
// 1 KB to 10 MB (heavy-tailed), and due, notify and expiry times that follow
// the schedule. The raw text is short; Size records the message size.
func generateDemo(n int, seed int64, now time.Time, sched Schedule, fn func(i int, m *Message, raw []byte) error) error {
	if len(sched.Retry) == 0 {
		sched.Retry = DefaultSchedule.Retry
	}
	if sched.Expire <= 0 {
		sched.Expire = DefaultSchedule.Expire
	}
	rng := rand.New(rand.NewPCG(uint64(seed), 0x6d717368))
	now = now.UTC().Truncate(time.Second)
	span := 4 * 24 * time.Hour
	start := now.Add(-span)

	// Sender pool: people and role accounts at companies, heavy-tailed use.
	companies := make([]string, 0, 400)
	for i := 0; len(companies) < 400; i++ {
		w := companyWords[i%len(companyWords)]
		tld := companyTLDs[(i/len(companyWords)+i)%len(companyTLDs)]
		if i >= len(companyWords) {
			w = fmt.Sprintf("%s%d", w, i/len(companyWords))
		}
		companies = append(companies, w+"."+tld)
	}
	senders := make([]string, 5000)
	for i := range senders {
		dom := companies[int(math.Pow(rng.Float64(), 2)*float64(len(companies)))]
		if rng.IntN(3) == 0 {
			senders[i] = roles[rng.IntN(len(roles))] + "@" + dom
		} else {
			senders[i] = firstNames[rng.IntN(len(firstNames))] + "." + lastNames[rng.IntN(len(lastNames))] + "@" + dom
		}
	}
	pickSender := func() string {
		return senders[int(math.Pow(rng.Float64(), 3)*float64(len(senders)))]
	}
	pickDomain := func() string {
		x := rng.Float64()
		for _, d := range bigDomains {
			if x < d.weight {
				return d.name
			}
			x -= d.weight
		}
		return companies[rng.IntN(len(companies))]
	}
	local := func(dom string) string {
		switch rng.IntN(4) {
		case 0:
			return fmt.Sprintf("%s.%s%d", firstNames[rng.IntN(len(firstNames))], lastNames[rng.IntN(len(lastNames))], rng.IntN(100))
		case 1:
			return fmt.Sprintf("%s%d", firstNames[rng.IntN(len(firstNames))], rng.IntN(10000))
		case 2:
			return firstNames[rng.IntN(len(firstNames))] + "." + lastNames[rng.IntN(len(lastNames))]
		}
		if strings.Count(dom, ".") == 1 && !strings.HasSuffix(dom, ".com") {
			return roles[rng.IntN(len(roles))]
		}
		return fmt.Sprintf("%s_%s%d", lastNames[rng.IntN(len(lastNames))], firstNames[rng.IntN(len(firstNames))], rng.IntN(1000))
	}

	var lastID ID
	for i := 0; i < n; i++ {
		step := float64(span) / float64(max(n, 1))
		created := start.Add(time.Duration(float64(i)*step + rng.Float64()*step)).Truncate(time.Second)
		if created.After(now) {
			created = now
		}
		id := snowflake(created, 0)
		if id <= lastID {
			id = NextSlot(lastID)
		}
		lastID = id
		m := Message{ID: id, Created: created}
		if rng.Float64() < 0.05 {
			m.ReturnPath = ""
		} else {
			m.ReturnPath = pickSender()
		}
		if rng.Float64() < 0.1 {
			m.EnvID = fmt.Sprintf("%08x", rng.Uint32())
		}
		if rng.Float64() < 0.02 {
			m.Priority = []int{-10, 10, 50}[rng.IntN(3)]
		}
		// Sizes: log-normal around 12 KB, clipped to 1 KB .. 10 MB.
		size := math.Exp(math.Log(12*1024) + 1.6*rng.NormFloat64())
		m.Size = int64(min(max(size, 1024), 10*1024*1024))

		nr := 1
		switch x := rng.Float64(); {
		case x < 0.70:
			nr = 1
		case x < 0.90:
			nr = 2 + rng.IntN(2)
		default:
			nr = 4 + rng.IntN(7)
		}
		if m.ReturnPath == "" {
			nr = 1
		}
		seen := map[string]bool{}
		first := pickDomain()
		for k := 0; k < nr; k++ {
			dom := first
			if k > 0 && rng.Float64() < 0.4 {
				dom = pickDomain()
			}
			addr := local(dom) + "@" + dom
			if seen[addr] {
				continue
			}
			seen[addr] = true
			m.addRecipient(dom, Recipient{Address: addr}, Domain{})
		}
		for j := range m.Domains {
			genDomainState(rng, &m.Domains[j], created, now, sched)
		}
		// A queue holds messages with something pending: keep one domain pending.
		if !m.Pending() {
			d := &m.Domains[rng.IntN(len(m.Domains))]
			d.Status = TempFail
			for k := range d.Recipients {
				if !d.Recipients[k].Status.Pending() {
					r := tempReplies[rng.IntN(len(tempReplies))]
					d.Recipients[k] = Recipient{Address: d.Recipients[k].Address, Status: TempFail, Code: r.code, Enhanced: r.enhanced, Message: r.message}
					d.Details = fmt.Sprintf(domainErrors[1], d.Name, r.code, r.enhanced, r.message)
					break
				}
			}
		}
		if err := fn(i, &m, syntheticRaw(&m, created, 0)); err != nil {
			return err
		}
	}
	return nil
}

// genDomainState gives a domain of a message created at created a state that
// follows the schedule: the attempts made by now, the next due, notices, expiry.
func genDomainState(rng *rand.Rand, d *Domain, created, now time.Time, sched Schedule) {
	d.Expires = created.Add(sched.Expire)
	// Attempts made so far: the first at creation, then after each interval.
	attempts, next := 0, created
	for !next.After(now) && attempts < 1000 {
		attempts++
		next = next.Add(sched.Retry[min(attempts-1, len(sched.Retry)-1)])
	}
	// Some deliveries are overdue (a busy or stuck queue).
	if rng.Float64() < 0.08 {
		next = now.Add(-time.Duration(rng.IntN(3600)) * time.Second)
	}
	d.NotifyAt = time.Time{}
	for _, nd := range sched.Notify {
		if t := created.Add(nd); t.After(now) {
			d.NotifyAt = t
			break
		}
	}
	x := rng.Float64()
	switch {
	case attempts <= 1 && x < 0.6 || x < 0.35:
		// Scheduled: not tried yet, or retried and waiting.
		d.Status = Scheduled
		d.RetryNum = max(0, attempts-1)
		d.Due = next
		if d.RetryNum == 0 {
			d.Due = created.Add(time.Duration(rng.IntN(120)) * time.Second)
		}
	case x < 0.80:
		// Temporarily failing.
		d.Status = TempFail
		d.RetryNum = max(1, attempts)
		d.Due = next
		r := tempReplies[rng.IntN(len(tempReplies))]
		if rng.IntN(4) == 0 {
			d.Details = fmt.Sprintf(domainErrors[0], d.Name)
		} else if rng.IntN(8) == 0 {
			d.Details = fmt.Sprintf(domainErrors[2], d.Name)
		} else {
			d.Details = fmt.Sprintf(domainErrors[1], d.Name, r.code, r.enhanced, r.message)
		}
		for k := range d.Recipients {
			d.Recipients[k].Status, d.Recipients[k].Code, d.Recipients[k].Enhanced, d.Recipients[k].Message = TempFail, r.code, r.enhanced, r.message
		}
	case x < 0.92:
		// Delivered (some recipients may still be retried).
		d.RetryNum = max(1, attempts/2)
		d.Due = next
		d.Status = Completed
		for k := range d.Recipients {
			r := okReplies[rng.IntN(len(okReplies))]
			st := Completed
			if k > 0 && rng.IntN(3) == 0 {
				r, st = tempReplies[rng.IntN(len(tempReplies))], TempFail
				d.Status = TempFail
				d.Details = fmt.Sprintf(domainErrors[1], d.Name, r.code, r.enhanced, r.message)
			}
			d.Recipients[k].Status, d.Recipients[k].Code, d.Recipients[k].Enhanced, d.Recipients[k].Message = st, r.code, r.enhanced, r.message
		}
	default:
		// Permanently failed, or a mix of failed and pending recipients.
		d.RetryNum = max(1, attempts/2)
		d.Due = next
		r := permReplies[rng.IntN(len(permReplies))]
		d.Status = PermFail
		d.Details = fmt.Sprintf(domainErrors[1], d.Name, r.code, r.enhanced, r.message)
		for k := range d.Recipients {
			if k > 0 && rng.IntN(2) == 0 {
				t := tempReplies[rng.IntN(len(tempReplies))]
				d.Recipients[k].Status, d.Recipients[k].Code, d.Recipients[k].Enhanced, d.Recipients[k].Message = TempFail, t.code, t.enhanced, t.message
				d.Status = TempFail
				continue
			}
			d.Recipients[k].Status, d.Recipients[k].Code, d.Recipients[k].Enhanced, d.Recipients[k].Message = PermFail, r.code, r.enhanced, r.message
		}
	}
}

// WriteDemoJSON writes n generated messages (generateDemo with the default
// schedule) to the file path as JSON Lines, the shape ImportJSON reads,
// through a temporary file renamed into place: the benchmarks' source of a
// million-message queue.
func WriteDemoJSON(path string, n int, seed int64, now time.Time) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	err = generateDemo(n, seed, now, DefaultSchedule, func(_ int, m *Message, _ []byte) error {
		b, err := m.MarshalJSON()
		if err != nil {
			return err
		}
		w.Write(b)
		return w.WriteByte('\n')
	})
	if err == nil {
		err = w.Flush()
	}
	if e := f.Close(); err == nil {
		err = e
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}

var (
	companyWords = []string{"acme", "northwind", "contoso", "fabrikam", "globex", "initech", "umbrella", "stark", "wayne", "tyrell",
		"brightlabs", "bluefin", "redwood", "silverline", "greenleaf", "ironbridge", "sunrise", "oakhill", "riverbend", "stonegate",
		"peak", "harbor", "maple", "cedar", "falcon", "orbit", "pixel", "quantum", "vertex", "zenith", "smith-plumbing", "lakeside-dental",
		"nordic-timber", "alpine-tours", "city-bakery", "coastal-realty", "metro-legal", "prime-logistics", "urban-fitness", "golden-gate-law"}
	companyTLDs = []string{"com", "net", "org", "io", "co.uk", "de", "fr", "nl", "com.au", "ca", "es", "it", "ch", "se", "jp"}
	firstNames  = []string{"james", "mary", "john", "patricia", "robert", "jennifer", "michael", "linda", "william", "elizabeth",
		"david", "barbara", "richard", "susan", "joseph", "jessica", "thomas", "sarah", "charles", "karen", "anna", "lukas", "sofia",
		"yuki", "hiroshi", "wei", "li", "olga", "ivan", "maria", "jose", "ahmed", "fatima", "pierre", "claire", "hans", "greta"}
	lastNames = []string{"smith", "johnson", "williams", "brown", "jones", "garcia", "miller", "davis", "rodriguez", "martinez",
		"tanaka", "suzuki", "mueller", "schmidt", "dubois", "rossi", "kowalski", "novak", "ivanov", "chen", "wang", "kim", "lee", "silva"}
	roles = []string{"info", "sales", "support", "billing", "noreply", "newsletter", "hr", "admin", "orders", "alerts"}
)

var (
	tempReplies = []reply{
		{421, "4.7.0", "Try again later, closing connection. (rate limited)"},
		{451, "4.3.0", "Temporary server error. Please try again later."},
		{450, "4.2.1", "The user you are trying to contact is receiving mail too quickly."},
		{452, "4.2.2", "The email account that you tried to reach is over quota."},
		{451, "4.7.1", "Greylisted, please retry in 5 minutes."},
		{421, "4.4.2", "Connection timed out."},
	}
	permReplies = []reply{
		{550, "5.1.1", "The email account that you tried to reach does not exist."},
		{552, "5.2.2", "Mailbox full."},
		{554, "5.7.1", "Message rejected due to local policy."},
		{550, "5.7.26", "Unauthenticated email is not accepted from this domain."},
		{553, "5.1.3", "Invalid recipient address."},
	}
	okReplies = []reply{
		{250, "2.0.0", "OK"},
		{250, "2.6.0", "Message accepted for delivery"},
		{250, "2.1.5", "OK"},
	}
	domainErrors = []string{
		"Connection to 'mx1.%s' failed: Connection refused (os error 111)",
		"Unexpected response from 'mx.%s': %d %s %s",
		"DNS lookup failed for '%s': no MX records found",
		"TLS error from 'mx.%s': handshake failed",
	}
)
