package oidcproc

import (
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
)

// Browser is a headless person's browser: a cookie jar, the CAs to trust,
// and every response it saw (redirects included), for checks.
type Browser struct {
	HC *http.Client
	// Seen records each response's request URL and Set-Cookie headers.
	Seen []Seen
}

// Seen is one response a Browser got.
type Seen struct {
	URL        *url.URL
	StatusCode int
	SetCookies []string
}

// NewBrowser returns a browser trusting the CAs in caPEMs.
func NewBrowser(caPEMs ...[]byte) (*Browser, error) {
	var all []byte
	for _, p := range caPEMs {
		all = append(append(all, p...), '\n')
	}
	hc, err := HTTPClient(all)
	if err != nil {
		return nil, err
	}
	jar, err := cookiejar.New(nil)
	if err != nil {
		return nil, err
	}
	hc.Jar = jar
	hc.CheckRedirect = nil // a browser follows redirects
	b := &Browser{HC: hc}
	hc.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) >= 20 {
			return errors.New("stopped after 20 redirects")
		}
		if r := req.Response; r != nil {
			b.Seen = append(b.Seen, Seen{URL: r.Request.URL, StatusCode: r.StatusCode, SetCookies: r.Header.Values("Set-Cookie")})
		}
		return nil
	}
	return b, nil
}

// page is a fetched HTML page.
type page struct {
	url    *url.URL
	status int
	body   string
}

func (b *Browser) do(ctx context.Context, method, target string, form url.Values) (*page, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return nil, err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := b.HC.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	b.Seen = append(b.Seen, Seen{URL: resp.Request.URL, StatusCode: resp.StatusCode, SetCookies: resp.Header.Values("Set-Cookie")})
	return &page{url: resp.Request.URL, status: resp.StatusCode, body: string(raw)}, nil
}

// Get fetches target, following redirects, and returns the final URL,
// status and body.
func (b *Browser) Get(ctx context.Context, target string) (*url.URL, int, string, error) {
	p, err := b.do(ctx, http.MethodGet, target, nil)
	if err != nil {
		return nil, 0, "", err
	}
	return p.url, p.status, p.body, nil
}

// Post posts form to target, following redirects.
func (b *Browser) Post(ctx context.Context, target string, form url.Values) (*url.URL, int, string, error) {
	p, err := b.do(ctx, http.MethodPost, target, form)
	if err != nil {
		return nil, 0, "", err
	}
	return p.url, p.status, p.body, nil
}

var (
	formAction   = regexp.MustCompile(`<form[^>]*\baction="([^"]*)"`)
	hiddenInput  = regexp.MustCompile(`<input[^>]*type="hidden"[^>]*name="([^"]+)"[^>]*value="([^"]*)"`)
	localConnect = regexp.MustCompile(`href="([^"]*/auth/local[^"]*)"`)
)

// ApproveDevice plays the person of a device login at dex: it enters
// userCode at the verification URI, logs in as user and grants access.
func ApproveDevice(ctx context.Context, b *Browser, verificationURI, userCode string, user User) error {
	base := strings.TrimSuffix(verificationURI, "/")
	p, err := b.do(ctx, http.MethodPost, base+"/auth/verify_code", url.Values{"user_code": {userCode}})
	if err != nil {
		return fmt.Errorf("enter the user code at %s: %w", base, err)
	}
	p, err = b.logIn(ctx, p, user)
	if err != nil {
		return err
	}
	if p.status != http.StatusOK || !strings.Contains(strings.ToLower(p.body), "success") {
		return fmt.Errorf("device login at dex did not succeed: HTTP %d at %s: %.300s", p.status, p.url, p.body)
	}
	return nil
}

// BrowserLogin plays a person who opens loginURL (the broker's
// /auth/login): it follows the redirect to dex, logs in as user, grants
// access, and returns where the browser ended (the broker's /auth/whoami
// after its callback), its status and body.
func BrowserLogin(ctx context.Context, b *Browser, loginURL string, user User) (*url.URL, int, string, error) {
	p, err := b.do(ctx, http.MethodGet, loginURL, nil)
	if err != nil {
		return nil, 0, "", fmt.Errorf("open %s: %w", loginURL, err)
	}
	p, err = b.logIn(ctx, p, user)
	if err != nil {
		return nil, 0, "", err
	}
	return p.url, p.status, p.body, nil
}

// logIn goes through dex's pages from p: the connector choice, the
// password form, and the approval, until a page that is none of them.
func (b *Browser) logIn(ctx context.Context, p *page, user User) (*page, error) {
	var err error
	for range 6 {
		switch {
		case p.status >= 400:
			return nil, fmt.Errorf("dex answered HTTP %d at %s: %.300s", p.status, p.url, p.body)
		case strings.Contains(p.body, `name="password"`):
			target := p.url.String()
			if m := formAction.FindStringSubmatch(p.body); m != nil && m[1] != "" {
				target = resolve(p.url, html.UnescapeString(m[1]))
			}
			p, err = b.do(ctx, http.MethodPost, target, url.Values{"login": {user.Email}, "password": {user.Password}})
			if err != nil {
				return nil, fmt.Errorf("log in to dex as %s: %w", user.Email, err)
			}
			if strings.Contains(p.body, `name="password"`) {
				return nil, fmt.Errorf("dex refused the password of %s", user.Email)
			}
		case strings.Contains(p.body, `name="approval"`):
			form := url.Values{}
			for _, m := range hiddenInput.FindAllStringSubmatch(p.body, -1) {
				if m[1] != "approval" && form.Get(m[1]) == "" {
					form.Set(m[1], html.UnescapeString(m[2]))
				}
			}
			form.Set("approval", "approve")
			target := p.url.String()
			if m := formAction.FindStringSubmatch(p.body); m != nil && m[1] != "" {
				target = resolve(p.url, html.UnescapeString(m[1]))
			}
			if p, err = b.do(ctx, http.MethodPost, target, form); err != nil {
				return nil, fmt.Errorf("grant access at dex: %w", err)
			}
		case localConnect.MatchString(p.body):
			m := localConnect.FindStringSubmatch(p.body)
			if p, err = b.do(ctx, http.MethodGet, resolve(p.url, html.UnescapeString(m[1])), nil); err != nil {
				return nil, fmt.Errorf("choose dex's password login: %w", err)
			}
		default:
			return p, nil
		}
	}
	return nil, fmt.Errorf("dex kept asking: last page HTTP %d at %s", p.status, p.url)
}

func resolve(base *url.URL, ref string) string {
	u, err := base.Parse(ref)
	if err != nil {
		return ref
	}
	return u.String()
}
