package jujuapi_test

import (
	"fmt"
	"testing"

	"github.com/jimmbroker/jimm/jujuapi"
)

func TestParseTag(t *testing.T) {
	const uuid = "0b0e9c13-8e7a-4d37-8e2b-1f5e3c6e0d1a"
	tests := []struct {
		in   string
		want jujuapi.Tag
	}{
		{"user-admin", jujuapi.Tag{Kind: "user", ID: "admin"}},
		{"user-alice@external", jujuapi.Tag{Kind: "user", ID: "alice@external"}},
		{"user-bob-smith", jujuapi.Tag{Kind: "user", ID: "bob-smith"}},
		{"model-" + uuid, jujuapi.Tag{Kind: "model", ID: uuid}},
		{"controller-" + uuid, jujuapi.Tag{Kind: "controller", ID: uuid}},
		{"cloud-aws", jujuapi.Tag{Kind: "cloud", ID: "aws"}},
		{"cloud-my-cloud", jujuapi.Tag{Kind: "cloud", ID: "my-cloud"}},
		{"machine-0", jujuapi.Tag{Kind: "machine", ID: "0"}},
		{"machine-0-lxd-1", jujuapi.Tag{Kind: "machine", ID: "0-lxd-1"}},
		{"application-my-app", jujuapi.Tag{Kind: "application", ID: "my-app"}},
		{"unit-app-0", jujuapi.Tag{Kind: "unit", ID: "app-0"}},
		{"unit-my-app-12", jujuapi.Tag{Kind: "unit", ID: "my-app-12"}},
		{"cloudcred-aws_admin_default", jujuapi.Tag{Kind: "cloudcred", ID: "aws_admin_default"}},
		// A kind that is a prefix of another must not swallow it.
		{"cloud-cred", jujuapi.Tag{Kind: "cloud", ID: "cred"}},
		{"cloudcred-cloud-x", jujuapi.Tag{Kind: "cloudcred", ID: "cloud-x"}},
		{"model-user-x", jujuapi.Tag{Kind: "model", ID: "user-x"}},
	}
	for _, tt := range tests {
		got, err := jujuapi.ParseTag(tt.in)
		if err != nil {
			t.Errorf("ParseTag(%q): %v", tt.in, err)
			continue
		}
		if got != tt.want {
			t.Errorf("ParseTag(%q) = %#v, want %#v", tt.in, got, tt.want)
		}
		if got.String() != tt.in {
			t.Errorf("ParseTag(%q).String() = %q", tt.in, got.String())
		}
		if got.IsZero() {
			t.Errorf("ParseTag(%q).IsZero()", tt.in)
		}
	}
}

func TestParseTagInvalid(t *testing.T) {
	for _, in := range []string{
		"", "-", "user", "user-", "model-", "unit-", "cloudcred-", "foo-bar", "User-admin", "user_admin",
		"admin", " user-admin", "-user-admin", "applicationx-a", "cloudx-a",
	} {
		got, err := jujuapi.ParseTag(in)
		if err == nil {
			t.Errorf("ParseTag(%q) = %#v, want an error", in, got)
			continue
		}
		if !got.IsZero() {
			t.Errorf("ParseTag(%q) returned %#v with its error", in, got)
		}
		if want := fmt.Sprintf("%q is not a valid tag", in); err.Error() != want {
			t.Errorf("ParseTag(%q) error %q, want %q", in, err, want)
		}
		if jujuapi.ErrorCode(err) != jujuapi.CodeNotValid {
			t.Errorf("ParseTag(%q) error code %q", in, jujuapi.ErrorCode(err))
		}
	}
}

func TestParseKindTags(t *testing.T) {
	const uuid = "0b0e9c13-8e7a-4d37-8e2b-1f5e3c6e0d1a"
	type parser func(string) (jujuapi.Tag, error)
	tests := []struct {
		name    string
		parse   parser
		in      string
		want    jujuapi.Tag
		wantErr string
	}{
		{"user", jujuapi.ParseUserTag, "user-admin", jujuapi.UserTag("admin"), ""},
		{"model", jujuapi.ParseModelTag, "model-" + uuid, jujuapi.ModelTag(uuid), ""},
		{"controller", jujuapi.ParseControllerTag, "controller-" + uuid, jujuapi.ControllerTag(uuid), ""},
		{"cloud", jujuapi.ParseCloudTag, "cloud-aws", jujuapi.CloudTag("aws"), ""},
		{"model from a user tag", jujuapi.ParseModelTag, "user-x", jujuapi.Tag{}, `"user-x" is not a valid model tag`},
		{"user from a model tag", jujuapi.ParseUserTag, "model-" + uuid, jujuapi.Tag{}, `"model-` + uuid + `" is not a valid user tag`},
		{"cloud from a credential tag", jujuapi.ParseCloudTag, "cloudcred-aws_a_b", jujuapi.Tag{}, `"cloudcred-aws_a_b" is not a valid cloud tag`},
		{"controller from a model tag", jujuapi.ParseControllerTag, "model-" + uuid, jujuapi.Tag{}, `"model-` + uuid + `" is not a valid controller tag`},
		{"model from nothing", jujuapi.ParseModelTag, "", jujuapi.Tag{}, `"" is not a valid tag`},
		{"model without id", jujuapi.ParseModelTag, "model-", jujuapi.Tag{}, `"model-" is not a valid tag`},
	}
	for _, tt := range tests {
		got, err := tt.parse(tt.in)
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("%s: error %v, want %q", tt.name, err, tt.wantErr)
			}
			if jujuapi.ErrorCode(err) != jujuapi.CodeNotValid {
				t.Errorf("%s: error code %q", tt.name, jujuapi.ErrorCode(err))
			}
			if !got.IsZero() {
				t.Errorf("%s: returned %#v with its error", tt.name, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%s: = %#v, %v; want %#v", tt.name, got, err, tt.want)
		}
	}
}

func TestTagConstructors(t *testing.T) {
	tests := []struct {
		tag  jujuapi.Tag
		want string
	}{
		{jujuapi.UserTag("admin"), "user-admin"},
		{jujuapi.ModelTag("u"), "model-u"},
		{jujuapi.ControllerTag("c"), "controller-c"},
		{jujuapi.CloudTag("aws"), "cloud-aws"},
		{jujuapi.ApplicationTag("my-app"), "application-my-app"},
		{jujuapi.MachineTag("0/lxd/1"), "machine-0/lxd/1"},
		{jujuapi.UnitTag("app/0"), "unit-app-0"},
		{jujuapi.UnitTag("my-app/12"), "unit-my-app-12"},
		{jujuapi.CredentialTag("aws_admin_default"), "cloudcred-aws_admin_default"},
		{jujuapi.Tag{}, ""},
	}
	for _, tt := range tests {
		if got := tt.tag.String(); got != tt.want {
			t.Errorf("%#v.String() = %q, want %q", tt.tag, got, tt.want)
		}
	}
	if !(jujuapi.Tag{}).IsZero() || jujuapi.UserTag("").IsZero() {
		t.Error("IsZero is not about the kind")
	}
}

func TestUnitName(t *testing.T) {
	for _, name := range []string{"app/0", "my-app/12", "a-b-c/345", "x/9"} {
		tag := jujuapi.UnitTag(name)
		parsed, err := jujuapi.ParseTag(tag.String())
		if err != nil {
			t.Errorf("ParseTag(%q): %v", tag, err)
			continue
		}
		got, err := jujuapi.UnitName(parsed)
		if err != nil || got != name {
			t.Errorf("UnitName(%q) = %q, %v; want %q", tag, got, err, name)
		}
	}
	for _, tag := range []jujuapi.Tag{
		{Kind: "unit", ID: "app"},
		{Kind: "unit", ID: "-0"},
		{Kind: "unit", ID: "app-"},
		{Kind: "unit", ID: ""},
		{Kind: "application", ID: "app-0"},
		{},
	} {
		if got, err := jujuapi.UnitName(tag); err == nil {
			t.Errorf("UnitName(%#v) = %q, want an error", tag, got)
		} else if want := `"` + tag.String() + `" is not a valid unit tag`; err.Error() != want {
			t.Errorf("UnitName(%#v) error %q, want %q", tag, err, want)
		}
	}
}

func TestCloudCredentialTag(t *testing.T) {
	for _, c := range []struct{ cloud, owner, name, tag string }{
		{"aws", "bob", "default", "cloudcred-aws_bob_default"},
		{"lxd", "alice@example.com", "my_cred", "cloudcred-lxd_alice@example.com_my%5fcred"},
		{"my_cloud", "ci@serviceaccount", "k", "cloudcred-my%5fcloud_ci@serviceaccount_k"},
	} {
		if got := jujuapi.CloudCredentialTag(c.cloud, c.owner, c.name).String(); got != c.tag {
			t.Errorf("CloudCredentialTag(%q, %q, %q) = %q, want %q", c.cloud, c.owner, c.name, got, c.tag)
		}
		cloud, owner, name, err := jujuapi.ParseCloudCredentialTag(c.tag)
		if err != nil || cloud != c.cloud || owner != c.owner || name != c.name {
			t.Errorf("ParseCloudCredentialTag(%q) = %q, %q, %q, %v", c.tag, cloud, owner, name, err)
		}
	}
	for _, bad := range []string{"cloudcred-aws_bob", "cloudcred-aws__x", "user-bob", "cloudcred-", "cloudcred-a_b_c_d", "cloudcred-a_b_%zz"} {
		if _, _, _, err := jujuapi.ParseCloudCredentialTag(bad); err == nil {
			t.Errorf("ParseCloudCredentialTag(%q) succeeded", bad)
		}
	}
}
