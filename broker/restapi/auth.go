package restapi

import "time"

// Paths of the access API: groups and relation tuples.
//
// Subjects are user:<name>, serviceaccount:<client-id> and
// group:<name>#member; objects are controller:<name> (controller:jimm is
// the broker itself), cloud:<name>, model:<uuid> and group:<name>.
const (
	// PathGroups: GET → []Group; POST AddGroupRequest → Group (201).
	// Broker administrators only.
	PathGroups = "/v1/groups"
	// PathGroup + name: PUT RenameGroupRequest → Group; DELETE (204), which
	// also removes every relation naming the group. Broker administrators
	// only.
	PathGroup = "/v1/groups/"
	// PathGroup + name + PathMembers: POST GroupMemberRequest (204);
	// DELETE with the RelationsQuerySubject parameter (204). Broker
	// administrators only.
	PathMembers = "/members"
	// PathRelations: GET with the RelationsQuery* parameters → []Relation
	// (broker administrators, or anyone listing their own subject's);
	// POST Relation (204) and DELETE Relation, as the body or as the
	// RelationsQuery* parameters (204), by whoever administers the
	// object: broker administrators everything, a cloud's administrators
	// the cloud, a model's administrators (and its controller's) the model.
	PathRelations = "/v1/relations"
	// PathRelationsCheck: GET with RelationsQuerySubject,
	// RelationsQueryRelation and RelationsQueryObject → CheckResult, with
	// the implied relations. Broker administrators, or anyone checking
	// their own subject.
	PathRelationsCheck = "/v1/relations/check"
)

// Query parameters of PathRelations, PathRelationsCheck and PathMembers.
const (
	RelationsQuerySubject  = "subject"
	RelationsQueryRelation = "relation"
	RelationsQueryObject   = "object"
	RelationsQueryLimit    = "limit"  // at most this many tuples (default: all)
	RelationsQueryOffset   = "offset" // skip this many tuples first
)

// Group is a named set of users, service accounts and groups. Relations
// name it by name; it keeps its relations when renamed.
type Group struct {
	Name      string    `json:"name" yaml:"name"`
	UUID      string    `json:"uuid" yaml:"uuid"`
	CreatedAt time.Time `json:"created-at" yaml:"created-at"`
}

// AddGroupRequest creates a group.
type AddGroupRequest struct {
	Name string `json:"name"`
}

// RenameGroupRequest renames a group to Name.
type RenameGroupRequest struct {
	Name string `json:"name"`
}

// GroupMemberRequest adds Subject (user:<name>, serviceaccount:<client-id>
// or group:<name>#member) to a group.
type GroupMemberRequest struct {
	Subject string `json:"subject"`
}

// Relation is one relation tuple, e.g. {"group:ops#member",
// "administrator", "model:<uuid>"}.
type Relation struct {
	Subject  string `json:"subject" yaml:"subject"`
	Relation string `json:"relation" yaml:"relation"`
	Object   string `json:"object" yaml:"object"`
}

// CheckResult answers PathRelationsCheck.
type CheckResult struct {
	Allowed bool `json:"allowed" yaml:"allowed"`
}
