package db

import "time"

// Controller is a registered Juju controller.
type Controller struct {
	ID        uint      `gorm:"primaryKey"`
	CreatedAt time.Time `gorm:"not null"`
	UpdatedAt time.Time `gorm:"not null"`
	Name      string    `gorm:"not null;uniqueIndex"`
	UUID      string    `gorm:"column:uuid;not null;uniqueIndex"`
	// Addresses are host:port API addresses, tried in order.
	Addresses     []string `gorm:"serializer:json;not null"`
	CACert        string   `gorm:"not null"`
	TLSServerName string   `gorm:"column:tls_server_name;not null"`
	AdminUser     string   `gorm:"not null"`
	// AdminPassword is sealed with the broker's secrets key.
	AdminPassword []byte   `gorm:"not null"`
	AgentVersion  string   `gorm:"not null"`
	Cloud         string   `gorm:"not null"`
	CloudType     string   `gorm:"not null"`
	Regions       []string `gorm:"serializer:json;not null"`
	// Priority orders placement: higher tiers are tried first.
	Priority   int  `gorm:"not null;default:0"`
	Deprecated bool `gorm:"not null;default:false"`
}

// Model is a model hosted on one of the controllers: the routing table.
type Model struct {
	ID           uint      `gorm:"primaryKey"`
	CreatedAt    time.Time `gorm:"not null"`
	UpdatedAt    time.Time `gorm:"not null"`
	UUID         string    `gorm:"column:uuid;not null;uniqueIndex"`
	Name         string    `gorm:"not null"`
	Owner        string    `gorm:"not null"` // identity name
	ControllerID uint      `gorm:"not null;index"`
	Controller   Controller
	Cloud        string `gorm:"not null"`
	Region       string `gorm:"not null"`
	Type         string `gorm:"not null;default:iaas"`
	Life         string `gorm:"not null"`
	// Credential is the cloud credential the model uses, as
	// "<cloud>/<owner>/<name>" ("" for none).
	Credential string `gorm:"not null;default:''"`
	// Counts as last seen on the controller.
	MachineCount int `gorm:"not null;default:0"`
	CoreCount    int `gorm:"not null;default:0"`
	UnitCount    int `gorm:"not null;default:0"`
}

// Identity is a user or service account known to the broker.
type Identity struct {
	ID          uint      `gorm:"primaryKey"`
	CreatedAt   time.Time `gorm:"not null"`
	UpdatedAt   time.Time `gorm:"not null"`
	Name        string    `gorm:"not null;uniqueIndex"`
	DisplayName string    `gorm:"not null;default:''"`
	LastLogin   *time.Time
	Disabled    bool `gorm:"not null;default:false"`
}

// Relation is one relation tuple: Subject has Relation to the object
// ObjectKind:ObjectID, e.g. user:alice administrator model:<uuid>.
type Relation struct {
	ID         uint      `gorm:"primaryKey"`
	CreatedAt  time.Time `gorm:"not null"`
	Subject    string    `gorm:"not null"`
	Relation   string    `gorm:"not null"`
	ObjectKind string    `gorm:"not null"`
	ObjectID   string    `gorm:"column:object_id;not null"`
}

// SessionToken is a broker-minted login session. Only the token's hash is
// stored.
type SessionToken struct {
	ID        uint      `gorm:"primaryKey"`
	CreatedAt time.Time `gorm:"not null"`
	TokenHash []byte    `gorm:"not null;uniqueIndex"`
	Identity  string    `gorm:"not null;index"`
	ExpiresAt time.Time `gorm:"not null"`
}

// SigningKey is a key the broker signs controller tokens with. The private
// key is sealed with the broker's secrets key.
type SigningKey struct {
	ID         uint      `gorm:"primaryKey"`
	CreatedAt  time.Time `gorm:"not null"`
	KID        string    `gorm:"column:kid;not null;uniqueIndex"`
	Algorithm  string    `gorm:"not null"`
	PrivateKey []byte    `gorm:"not null"`
	// ActivateAt is when the key starts signing (nil: from its creation);
	// it is published from its creation on.
	ActivateAt *time.Time
	RetireAt   *time.Time
}

// Migration is one move of a model between controllers, followed by the
// broker. At most one per model is running. A replica follows it while it
// holds the lease (LeaseOwner until LeaseUntil).
type Migration struct {
	ID                    int64      `gorm:"primaryKey"`
	CreatedAt             time.Time  `gorm:"not null"`
	UpdatedAt             time.Time  `gorm:"not null"`
	ModelUUID             string     `gorm:"column:model_uuid;not null"`
	ModelName             string     `gorm:"not null"`
	Owner                 string     `gorm:"not null"`
	SourceControllerID    uint       `gorm:"not null"`
	Source                Controller `gorm:"foreignKey:SourceControllerID"`
	TargetControllerID    uint       `gorm:"not null"`
	Target                Controller `gorm:"foreignKey:TargetControllerID"`
	ControllerMigrationID string     `gorm:"not null;default:''"`
	Phase                 string     `gorm:"not null"`
	Message               string     `gorm:"not null;default:''"`
	Result                string     `gorm:"not null"`
	StartedAt             time.Time  `gorm:"not null"`
	PhaseChangedAt        time.Time  `gorm:"not null"`
	EndedAt               *time.Time
	LeaseOwner            string `gorm:"not null;default:''"`
	LeaseUntil            *time.Time
	// SourceController and TargetController name the controllers, so the
	// history outlives their removal (the ids then match no controller).
	SourceController string `gorm:"not null;default:''"`
	TargetController string `gorm:"not null;default:''"`
	// Plan is the broker's estimate before starting, as JSON ("" when it
	// made none).
	Plan string `gorm:"not null;default:''"`
}

// SourceName is the name of the controller the model left.
func (m *Migration) SourceName() string {
	if m.Source.Name != "" {
		return m.Source.Name
	}
	return m.SourceController
}

// TargetName is the name of the controller the model went to.
func (m *Migration) TargetName() string {
	if m.Target.Name != "" {
		return m.Target.Name
	}
	return m.TargetController
}

// ModelCreation is the broker's record of a model it began to create:
// written before any controller is asked, updated before each controller
// is tried, and removed, or turned into a sweep, in the transaction that
// records the model. A crash at any point leaves one to be finished by the
// reconciler.
type ModelCreation struct {
	ID        int64     `gorm:"primaryKey"`
	CreatedAt time.Time `gorm:"not null"`
	UpdatedAt time.Time `gorm:"not null"`
	Owner     string    `gorm:"not null"`
	Name      string    `gorm:"not null"`
	Cloud     string    `gorm:"not null;default:''"`
	Region    string    `gorm:"not null;default:''"`
	// State is CreationCreating while a replica is at it, CreationSweeping
	// once the outcome is known but controllers that failed may yet
	// create the model late.
	State string `gorm:"not null"`
	// Controllers are the names of the controllers asked, in order.
	Controllers []string `gorm:"serializer:json;not null"`
	// ModelUUID is the model recorded, when one was ("" otherwise).
	ModelUUID string `gorm:"column:model_uuid;not null;default:''"`
	// Replica is the broker replica doing the creation.
	Replica string `gorm:"not null;default:''"`
}

// Group is a named set of users, service accounts and groups. Relation
// tuples name a group by its UUID (group:<uuid>#member), so renaming it
// rewrites no tuple.
type Group struct {
	ID        uint      `gorm:"primaryKey"`
	CreatedAt time.Time `gorm:"not null"`
	UUID      string    `gorm:"column:uuid;not null;uniqueIndex"`
	Name      string    `gorm:"not null;uniqueIndex"`
}

// AuditEvent is one audit record: a login attempt or a call that changed
// (or tried to change) state. It never holds a secret: no call's
// parameters, only who, where, what and how it ended.
type AuditEvent struct {
	ID       int64     `gorm:"primaryKey"`
	Time     time.Time `gorm:"not null"`
	Identity string    `gorm:"not null;default:''"` // for a failed login, who the caller claimed to be
	Remote   string    `gorm:"not null;default:''"` // the source address
	Model    string    `gorm:"not null;default:''"` // the model's UUID, if any
	Facade   string    `gorm:"not null"`
	Method   string    `gorm:"not null"`
	Result   string    `gorm:"not null"` // ok, refused, error, throttled, or an error code
	Error    string    `gorm:"not null;default:''"`
	// DurationMicros is how long the call took, in microseconds.
	DurationMicros int64 `gorm:"column:duration_us;not null;default:0"`
}

// CloudCredential is a user's credential for a cloud. Its attributes
// (JSON) are sealed with the broker's secrets key.
type CloudCredential struct {
	ID         uint      `gorm:"primaryKey"`
	CreatedAt  time.Time `gorm:"not null"`
	UpdatedAt  time.Time `gorm:"not null"`
	Cloud      string    `gorm:"not null"`
	Owner      string    `gorm:"not null"` // identity name
	Name       string    `gorm:"not null"`
	AuthType   string    `gorm:"not null"`
	Attributes []byte    `gorm:"not null"`
}

// Key is the credential's id as Juju names it: "<cloud>/<owner>/<name>".
func (c *CloudCredential) Key() string { return c.Cloud + "/" + c.Owner + "/" + c.Name }

// ModelDefault is a model config value the broker applies to the models
// it creates on a cloud, or on one region of it (Region "" for the whole
// cloud). Value is JSON.
type ModelDefault struct {
	ID        uint      `gorm:"primaryKey"`
	UpdatedAt time.Time `gorm:"not null"`
	Cloud     string    `gorm:"not null"`
	Region    string    `gorm:"not null;default:''"`
	Key       string    `gorm:"not null"`
	Value     string    `gorm:"not null"`
}
