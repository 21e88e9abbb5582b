package facades

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jimmbroker/jimm/authz"
	"github.com/jimmbroker/jimm/broker/identity"
	"github.com/jimmbroker/jimm/db"
	"github.com/jimmbroker/jimm/db/dbtest"
	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

// listingAPI is the facades over a PostgreSQL routing table of n models
// (owned by 5,000 users, as brokerbench seeds them), of which
// "bench-user" reads one in a hundred.
func listingAPI(b *testing.B, n int) *API {
	b.Helper()
	ctx := b.Context()
	d := dbtest.PostgreSQL(b)
	c := &db.Controller{Name: "ctl", UUID: "c0c0c0c0-0000-4000-8000-000000000001", Addresses: []string{"127.0.0.1:1"},
		Cloud: "localhost", CloudType: "lxd", AgentVersion: "3.5.4", Regions: []string{"default"}, AdminPassword: []byte{0}}
	if err := d.WithContext(ctx).Create(c).Error; err != nil {
		b.Fatal(err)
	}
	const batch = 1000
	for i := 0; i < n; i += batch {
		var mq, rq strings.Builder
		mq.WriteString("INSERT INTO models (created_at, updated_at, uuid, name, owner, controller_id, cloud, region, type, life) VALUES ")
		rq.WriteString("INSERT INTO relations (created_at, subject, relation, object_kind, object_id) VALUES ")
		for j := i; j < min(i+batch, n); j++ {
			if j > i {
				mq.WriteString(",")
				rq.WriteString(",")
			}
			uuid := fmt.Sprintf("00000000-0000-4000-8000-%012d", j)
			owner := fmt.Sprintf("owner-%d", j%5000)
			fmt.Fprintf(&mq, "(now(), now(), '%s', 'm-%d', '%s', %d, 'localhost', 'default', 'iaas', 'alive')", uuid, j, owner, c.ID)
			fmt.Fprintf(&rq, "(now(), 'user:%s', 'administrator', 'model', '%s')", owner, uuid)
			if j%100 == 0 {
				fmt.Fprintf(&rq, ",(now(), 'user:bench-user', 'reader', 'model', '%s')", uuid)
			}
		}
		if err := d.WithContext(ctx).Exec(mq.String()).Error; err != nil {
			b.Fatal(err)
		}
		if err := d.WithContext(ctx).Exec(rq.String()).Error; err != nil {
			b.Fatal(err)
		}
	}
	if err := d.WithContext(ctx).Exec("ANALYZE").Error; err != nil {
		b.Fatal(err)
	}
	rel := authz.NewRelations(d, quiet)
	b.Cleanup(rel.Close)
	cipher, err := authz.NewCipher(authz.GenerateKey())
	if err != nil {
		b.Fatal(err)
	}
	ids, err := identity.New(ctx, identity.Config{
		BrokerUUID: brokerUUID, AdminPassword: adminPassword, SessionTTL: time.Hour, ControllerTokenTTL: 5 * time.Minute,
		KeyRotation: 24 * time.Hour, KeyPrepublish: 5 * time.Minute, LoginFailureRate: -1,
	}, identity.Deps{DB: d, Cipher: cipher, Relations: rel, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	return &API{db: d, identity: ids, rel: rel, brokerUUID: brokerUUID, log: quiet}
}

// BenchmarkListModelSummaries times ListModelSummaries as the broker
// serves it, encoded response frame included: for the administrator (every
// model) and for a user who reads 1% of them.
//
//	JIMM_TEST_DSN=... go test -run '^$' -bench ListModel -benchtime 10x ./broker/facades
func BenchmarkListModelSummaries(b *testing.B) {
	for _, n := range []int{1000, 10000, 100000} {
		a := listingAPI(b, n)
		for _, c := range []struct {
			name, caller string
			admin        bool
			want         int
		}{{"admin", identity.AdminName, true, n}, {"user", "bench-user", false, n / 100}} {
			s := &session{api: a, id: &identity.Identity{Name: c.caller, Admin: c.admin}, log: quiet}
			req := params.ModelSummariesRequest{UserTag: jujuapi.UserTag(c.caller).String()}
			b.Run(fmt.Sprintf("%s/%d", c.name, n), func(b *testing.B) {
				for b.Loop() {
					res, err := s.listModelSummaries(b.Context(), req)
					if err != nil {
						b.Fatal(err)
					}
					frame, err := jujuapi.EncodeResponse(1, res, nil)
					if err != nil {
						b.Fatal(err)
					}
					b.ReportMetric(float64(len(frame))/1e6, "MB/frame")
				}
			})
			b.Run(fmt.Sprintf("%s-ListModels/%d", c.name, n), func(b *testing.B) {
				for b.Loop() {
					res, err := s.listModels(b.Context(), params.Entity{Tag: req.UserTag})
					if err != nil {
						b.Fatal(err)
					}
					if _, err := jujuapi.EncodeResponse(1, res, nil); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
