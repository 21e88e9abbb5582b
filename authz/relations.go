package authz

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/jimmbroker/jimm/db"
)

// Relation tuples: "<subject> <relation> <object>", stored in the database
// (db.Relation) and answered from memory.
//
// Subjects: user:<name>, serviceaccount:<name>, group:<name>#member.
// Objects: controller:jimm (the broker itself), controller:<name> (a
// registered controller), cloud:<name>, model:<uuid>, group:<name> (with
// the relation member only).
//
// The API takes and returns group names; the database stores group UUIDs
// (group:<uuid>#member, object group:<uuid>), so renaming a group rewrites
// no tuple.

// Relations.
const (
	Administrator  = "administrator"
	Writer         = "writer"
	Reader         = "reader"
	AuditLogViewer = "audit_log_viewer"
	CanAddModel    = "can_addmodel"
	Member         = "member"
)

// Entity kinds.
const (
	KindUser           = "user"
	KindServiceAccount = "serviceaccount"
	KindGroup          = "group"
	KindController     = "controller"
	KindCloud          = "cloud"
	KindModel          = "model"
)

// BrokerController names the broker itself as an object: an administrator
// of controller:jimm administers every controller, cloud and model.
const BrokerController = "jimm"

// RelationsChannel is the notification channel every write to relations or
// groups notifies, and every Relations listens on.
const RelationsChannel = db.RelationsChannel

// Model access levels, Juju's names, returned by ModelAccess.
const (
	AccessNone  = ""
	AccessRead  = "read"
	AccessWrite = "write"
	AccessAdmin = "admin"
)

// AccessRank orders access levels: 0 none, 1 read, 2 write, 3 admin.
func AccessRank(access string) int {
	switch access {
	case AccessRead:
		return 1
	case AccessWrite:
		return 2
	case AccessAdmin:
		return 3
	}
	return 0
}

// RelationAccess is the access level a model relation gives: administrator
// admin, writer write, reader read; anything else none.
func RelationAccess(relation string) string {
	switch relation {
	case Administrator:
		return AccessAdmin
	case Writer:
		return AccessWrite
	case Reader:
		return AccessRead
	}
	return AccessNone
}

// ErrInvalidTuple is wrapped by every validation error.
var ErrInvalidTuple = errors.New("invalid relation tuple")

// objectRelations are the relations that apply to each object kind.
var objectRelations = map[string][]string{
	KindController: {Administrator, AuditLogViewer},
	KindCloud:      {Administrator, CanAddModel},
	KindModel:      {Administrator, Writer, Reader},
	KindGroup:      {Member},
}

// grantedBy lists, for a relation on an object kind, the relations on the
// same object that imply it (itself included).
var grantedBy = map[string]map[string][]string{
	KindController: {Administrator: {Administrator}, AuditLogViewer: {AuditLogViewer, Administrator}},
	KindCloud:      {Administrator: {Administrator}, CanAddModel: {CanAddModel, Administrator}},
	KindModel:      {Administrator: {Administrator}, Writer: {Writer, Administrator}, Reader: {Reader, Writer, Administrator}},
	KindGroup:      {Member: {Member}},
}

var (
	// namePattern: groups, controllers, clouds.
	namePattern = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._-]{0,63}$`)
	// userPattern: users and service accounts (alice, alice@example.com,
	// ci@serviceaccount).
	userPattern = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._@+-]{0,254}$`)
	uuidPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
)

// Tuple is one relation tuple in the API's string forms, e.g.
// {"group:ops#member", "administrator", "model:<uuid>"}.
type Tuple struct {
	Subject, Relation, Object string
}

// String formats the tuple as "<subject> <relation> <object>".
func (t Tuple) String() string { return t.Subject + " " + t.Relation + " " + t.Object }

// ParseTuple parses "<subject> <relation> <object>" and validates it.
func ParseTuple(s string) (Tuple, error) {
	f := strings.Fields(s)
	if len(f) != 3 {
		return Tuple{}, fmt.Errorf("%w %q: want \"<subject> <relation> <object>\"", ErrInvalidTuple, s)
	}
	t := Tuple{f[0], f[1], f[2]}
	return t, t.Validate()
}

// Validate checks the tuple's forms and that its relation applies to its
// object's kind.
func (t Tuple) Validate() error {
	_, _, _, err := t.parse()
	return err
}

func (t Tuple) parse() (subject, object entity, relation string, err error) {
	if subject, err = parseSubject(t.Subject); err != nil {
		return
	}
	if object, err = parseObject(t.Object); err != nil {
		return
	}
	if err = checkRelation(t.Relation, object.kind); err != nil {
		return
	}
	if t.Relation == Member && subject.kind == KindGroup && subject.id == object.id {
		err = fmt.Errorf("%w: group %q cannot be a member of itself", ErrInvalidTuple, object.id)
	}
	return subject, object, t.Relation, err
}

// entity is a parsed subject or object: its kind and its name (a UUID for
// models).
type entity struct{ kind, id string }

func (e entity) String() string {
	if e.kind == KindGroup {
		return e.kind + ":" + e.id + "#member"
	}
	return e.kind + ":" + e.id
}

// ParseSubject validates a subject: user:<name>, serviceaccount:<name> or
// group:<name>#member.
func ParseSubject(s string) error { _, err := parseSubject(s); return err }

func parseSubject(s string) (entity, error) {
	kind, id, _ := strings.Cut(s, ":")
	switch kind {
	case KindUser, KindServiceAccount:
		if !userPattern.MatchString(id) {
			return entity{}, fmt.Errorf("%w: subject %q: bad %s name %q", ErrInvalidTuple, s, kind, id)
		}
	case KindGroup:
		name, ok := strings.CutSuffix(id, "#member")
		if !ok {
			return entity{}, fmt.Errorf("%w: subject %q: a group subject is group:<name>#member", ErrInvalidTuple, s)
		}
		if err := checkGroupName(name); err != nil {
			return entity{}, fmt.Errorf("subject %q: %w", s, err)
		}
		id = name
	default:
		return entity{}, fmt.Errorf("%w: subject %q: want user:, serviceaccount: or group:<name>#member", ErrInvalidTuple, s)
	}
	return entity{kind, id}, nil
}

// ParseObject validates an object: controller:<name>, cloud:<name>,
// model:<uuid> or group:<name>.
func ParseObject(s string) error { _, err := parseObject(s); return err }

func parseObject(s string) (entity, error) {
	kind, id, _ := strings.Cut(s, ":")
	switch kind {
	case KindController, KindCloud, KindGroup:
		if !namePattern.MatchString(id) {
			return entity{}, fmt.Errorf("%w: object %q: bad %s name %q", ErrInvalidTuple, s, kind, id)
		}
	case KindModel:
		if !uuidPattern.MatchString(id) {
			return entity{}, fmt.Errorf("%w: object %q: a model is named by its UUID (lower case)", ErrInvalidTuple, s)
		}
	default:
		return entity{}, fmt.Errorf("%w: object %q: want controller:, cloud:, model: or group:", ErrInvalidTuple, s)
	}
	return entity{kind, id}, nil
}

func checkRelation(relation, kind string) error {
	if !slices.Contains(objectRelations[kind], relation) {
		return fmt.Errorf("%w: relation %q does not apply to %s objects (only %s)", ErrInvalidTuple, relation, kind, strings.Join(objectRelations[kind], ", "))
	}
	return nil
}

func checkGroupName(name string) error {
	if !namePattern.MatchString(name) {
		return fmt.Errorf("%w: bad group name %q: want 1 to 64 of letters, digits, '.', '_', '-', starting with a letter or digit", ErrInvalidTuple, name)
	}
	return nil
}

// --- storage ---

// groupByName finds a group, locking its row against removal on
// PostgreSQL when lock is set.
func groupByName(tx *gorm.DB, name string, lock string) (db.Group, error) {
	q := tx
	if lock != "" && tx.Dialector.Name() == "postgres" {
		q = q.Clauses(clause.Locking{Strength: lock})
	}
	var g db.Group
	err := q.Where("name = ?", name).First(&g).Error
	if errors.Is(err, db.ErrNotFound) {
		return g, fmt.Errorf("group %q not found: %w", name, db.ErrNotFound)
	}
	if err != nil {
		return g, fmt.Errorf("look up group %q: %w", name, err)
	}
	return g, nil
}

// storedSubject is a subject in its stored form (group UUIDs).
func storedSubject(tx *gorm.DB, e entity, lock string) (string, error) {
	if e.kind != KindGroup {
		return e.String(), nil
	}
	g, err := groupByName(tx, e.id, lock)
	if err != nil {
		return "", err
	}
	return KindGroup + ":" + g.UUID + "#member", nil
}

// storedObject is an object's stored kind and id (group UUIDs).
func storedObject(tx *gorm.DB, e entity, lock string) (kind, id string, err error) {
	if e.kind != KindGroup {
		return e.kind, e.id, nil
	}
	g, err := groupByName(tx, e.id, lock)
	if err != nil {
		return "", "", err
	}
	return KindGroup, g.UUID, nil
}

func storedRow(tx *gorm.DB, t Tuple, lock string) (db.Relation, error) {
	subject, object, relation, err := t.parse()
	if err != nil {
		return db.Relation{}, err
	}
	row := db.Relation{Relation: relation}
	if row.Subject, err = storedSubject(tx, subject, lock); err != nil {
		return row, err
	}
	row.ObjectKind, row.ObjectID, err = storedObject(tx, object, lock)
	return row, err
}

// addTuple stores t and reports whether it was new; adding a tuple that
// exists already is not an error.
func addTuple(ctx context.Context, d *db.DB, t Tuple) (added bool, err error) {
	err = d.Tx(ctx, func(tx *gorm.DB, notify func(string, string)) error {
		row, err := storedRow(tx, t, "SHARE")
		if err != nil {
			return err
		}
		res := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&row)
		if res.Error != nil {
			return fmt.Errorf("add %s: %w", t, res.Error)
		}
		added = res.RowsAffected > 0
		if added {
			notify(RelationsChannel, "")
		}
		return nil
	})
	return added && err == nil, err
}

// removeTuple removes t, or reports it not found (wrapping db.ErrNotFound).
func removeTuple(ctx context.Context, d *db.DB, t Tuple) error {
	return d.Tx(ctx, func(tx *gorm.DB, notify func(string, string)) error {
		row, err := storedRow(tx, t, "")
		if err != nil {
			return err
		}
		res := tx.Where("subject = ? AND relation = ? AND object_kind = ? AND object_id = ?",
			row.Subject, row.Relation, row.ObjectKind, row.ObjectID).Delete(&db.Relation{})
		if res.Error != nil {
			return fmt.Errorf("remove %s: %w", t, res.Error)
		}
		if res.RowsAffected == 0 {
			return fmt.Errorf("relation %s not found: %w", t, db.ErrNotFound)
		}
		notify(RelationsChannel, "")
		return nil
	})
}

// --- Relations ---

// Relations stores relation tuples and answers checks from an in-memory
// index of all of them, loaded on first use and dropped (to be reloaded on
// the next check) whenever any replica writes a tuple or a group.
type Relations struct {
	d   *db.DB
	log *slog.Logger

	ctx    context.Context // the listener's
	cancel context.CancelFunc

	loadMu    sync.Mutex // serialises loads and starting the listener
	listening bool

	mu       sync.Mutex // orders invalidations against storing a load
	gen      uint64     // bumped by every invalidation
	idx      atomic.Pointer[index]
	onChange []func()
}

// OnChange registers fn to be called after every change to relations or
// groups, made here or by another replica, once checks see it. fn must
// not block. Register before the first check.
func (r *Relations) OnChange(fn func()) {
	r.mu.Lock()
	r.onChange = append(r.onChange, fn)
	r.mu.Unlock()
}

// NewRelations returns a Relations over d. It listens for changes from the
// first check on, until Close.
func NewRelations(d *db.DB, logger *slog.Logger) *Relations {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Relations{d: d, log: logger, ctx: ctx, cancel: cancel}
}

// Close stops listening for changes. Checks after Close fail.
func (r *Relations) Close() {
	r.cancel()
	r.invalidate()
}

// Groups returns the group API over the same database, whose writes this
// Relations sees at once.
func (r *Relations) Groups() *Groups { return &Groups{d: r.d, onChange: r.invalidate} }

// Changed tells r that relations changed in the database through another
// path (e.g. a model's owner tuple, written with the model in one
// transaction that also notifies RelationsChannel): checks here see it at
// once, without waiting for the notification.
func (r *Relations) Changed() { r.invalidate() }

func (r *Relations) invalidate() {
	r.mu.Lock()
	r.gen++
	r.idx.Store(nil)
	fns := r.onChange
	r.mu.Unlock()
	for _, fn := range fns {
		fn()
	}
}

// index returns the in-memory index, loading it if it was invalidated.
func (r *Relations) index(ctx context.Context) (*index, error) {
	if ix := r.idx.Load(); ix != nil {
		return ix, nil
	}
	r.loadMu.Lock()
	defer r.loadMu.Unlock()
	if ix := r.idx.Load(); ix != nil {
		return ix, nil
	}
	if r.ctx.Err() != nil {
		return nil, errors.New("relations: closed")
	}
	if !r.listening {
		// Listen before loading, so that no change after the load is missed.
		if err := r.d.Listen(r.ctx, RelationsChannel, func(string) { r.invalidate() }); err != nil {
			return nil, fmt.Errorf("relations: %w", err)
		}
		r.listening = true
	}
	r.mu.Lock()
	gen := r.gen
	r.mu.Unlock()
	ix, err := loadIndex(ctx, r.d, r.log)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	if r.gen == gen { // else it changed while loading: use it once, reload next time
		r.idx.Store(ix)
	}
	r.mu.Unlock()
	return ix, nil
}

// Add stores a tuple. Adding one that exists already is not an error (and
// changes nothing).
func (r *Relations) Add(ctx context.Context, t Tuple) error {
	added, err := addTuple(ctx, r.d, t)
	if added || err != nil {
		r.invalidate() // read our own writes without waiting for the notification
	}
	return err
}

// Remove removes a tuple; a missing one is reported (wrapping
// db.ErrNotFound).
func (r *Relations) Remove(ctx context.Context, t Tuple) error {
	err := removeTuple(ctx, r.d, t)
	r.invalidate()
	return err
}

// Filter selects tuples for List: by Subject and/or Object (exact, API
// forms; empty matches any), Limit of them (0: all) after skipping Offset.
type Filter struct {
	Subject string
	Object  string
	Limit   int
	Offset  int
}

// List returns the stored tuples f selects, in the order they were added,
// read from the database.
func (r *Relations) List(ctx context.Context, f Filter) ([]Tuple, error) {
	tx := r.d.WithContext(ctx)
	q := tx.Model(&db.Relation{})
	if f.Subject != "" {
		e, err := parseSubject(f.Subject)
		if err != nil {
			return nil, err
		}
		s, err := storedSubject(tx, e, "")
		if err != nil {
			return nil, err
		}
		q = q.Where("subject = ?", s)
	}
	if f.Object != "" {
		e, err := parseObject(f.Object)
		if err != nil {
			return nil, err
		}
		kind, id, err := storedObject(tx, e, "")
		if err != nil {
			return nil, err
		}
		q = q.Where("object_kind = ? AND object_id = ?", kind, id)
	}
	q = q.Order("id")
	if f.Limit > 0 {
		q = q.Limit(f.Limit)
	}
	if f.Offset > 0 {
		q = q.Offset(f.Offset)
	}
	var rows []db.Relation
	if err := q.Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("list relations: %w", err)
	}
	var uuids []string
	for _, row := range rows {
		if u, ok := groupSubjectUUID(row.Subject); ok {
			uuids = append(uuids, u)
		}
		if row.ObjectKind == KindGroup {
			uuids = append(uuids, row.ObjectID)
		}
	}
	names := map[string]string{}
	if len(uuids) > 0 {
		var groups []db.Group
		if err := tx.Where("uuid IN ?", uuids).Find(&groups).Error; err != nil {
			return nil, fmt.Errorf("list relations: %w", err)
		}
		for _, g := range groups {
			names[g.UUID] = g.Name
		}
	}
	out := make([]Tuple, len(rows))
	for i, row := range rows {
		out[i] = apiTuple(row, names)
	}
	return out, nil
}

// groupSubjectUUID returns the UUID in a stored group subject.
func groupSubjectUUID(s string) (string, bool) {
	rest, ok := strings.CutPrefix(s, "group:")
	if !ok {
		return "", false
	}
	return strings.CutSuffix(rest, "#member")
}

// apiTuple formats a stored tuple with group names (a group that is gone
// keeps its UUID).
func apiTuple(row db.Relation, names map[string]string) Tuple {
	t := Tuple{Subject: row.Subject, Relation: row.Relation, Object: row.ObjectKind + ":" + row.ObjectID}
	if u, ok := groupSubjectUUID(row.Subject); ok && names[u] != "" {
		t.Subject = "group:" + names[u] + "#member"
	}
	if row.ObjectKind == KindGroup && names[row.ObjectID] != "" {
		t.Object = "group:" + names[row.ObjectID]
	}
	return t
}

// Check reports whether subject has relation to object, with the implied
// relations: administrator ⊇ writer ⊇ reader on models, administrator ⊇
// audit_log_viewer on controllers and ⊇ can_addmodel on clouds, an
// administrator of controller:jimm administers everything (but is not a
// member of every group), and a subject has what its groups have,
// transitively. A model's controller is not known here: use ModelAccess
// for the access of a controller's administrators to its models.
func (r *Relations) Check(ctx context.Context, subject, relation, object string) (bool, error) {
	t := Tuple{subject, relation, object}
	subj, obj, _, err := t.parse()
	if err != nil {
		return false, err
	}
	ix, err := r.index(ctx)
	if err != nil {
		return false, err
	}
	s, err := ix.subject(subj)
	if err != nil {
		return false, err
	}
	o, err := ix.object(obj)
	if err != nil {
		return false, err
	}
	return ix.check(s, relation, obj.kind, o), nil
}

// ModelAccess returns subject's access to a model hosted on the controller
// named controllerName ("" if unknown): admin, write, read or "".
// Administrators of controller:jimm and of the model's controller have
// admin.
func (r *Relations) ModelAccess(ctx context.Context, subject, modelUUID, controllerName string) (string, error) {
	subj, err := parseSubject(subject)
	if err != nil {
		return AccessNone, err
	}
	obj, err := parseObject(KindModel + ":" + modelUUID)
	if err != nil {
		return AccessNone, err
	}
	if controllerName != "" && !namePattern.MatchString(controllerName) {
		return AccessNone, fmt.Errorf("%w: bad controller name %q", ErrInvalidTuple, controllerName)
	}
	ix, err := r.index(ctx)
	if err != nil {
		return AccessNone, err
	}
	s, err := ix.subject(subj)
	if err != nil {
		return AccessNone, err
	}
	model := obj.String()
	// Once administrator (the model's, the controller's or the broker's) is
	// ruled out, writer and reader need only their own tuples: the relations
	// that imply them were checked already.
	switch {
	case ix.check(s, Administrator, KindModel, model),
		controllerName != "" && ix.has(s, Administrator, KindController+":"+controllerName):
		return AccessAdmin, nil
	case ix.has(s, Writer, model):
		return AccessWrite, nil
	case ix.has(s, Reader, model):
		return AccessRead, nil
	}
	return AccessNone, nil
}

// Subjects returns subject (e.g. user:alice) and every group it is
// transitively a member of, in their stored forms (group:<uuid>#member):
// the subjects whose tuples are the subject's, for db.ModelsFor.
func (r *Relations) Subjects(ctx context.Context, subject string) ([]string, error) {
	ix, s, err := r.resolve(ctx, subject)
	if err != nil {
		return nil, err
	}
	groups := ix.closure(s)
	out := make([]string, 0, 1+len(groups))
	out = append(out, s)
	out = append(out, groups...)
	slices.Sort(out[1:])
	return out, nil
}

// --- the in-memory index ---

// key is a stored tuple: subject, relation, object as "kind:id".
type key struct{ subject, relation, object string }

type index struct {
	log       *slog.Logger
	tuples    map[key]struct{}
	bySubject map[string][]key
	groupUUID map[string]string // name → UUID

	mu   sync.RWMutex
	memo map[string][]string // subject → the groups it is transitively a member of
}

func loadIndex(ctx context.Context, d *db.DB, log *slog.Logger) (*index, error) {
	var rows []db.Relation
	if err := d.WithContext(ctx).Select("subject", "relation", "object_kind", "object_id").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("load relations: %w", err)
	}
	var groups []db.Group
	if err := d.WithContext(ctx).Find(&groups).Error; err != nil {
		return nil, fmt.Errorf("load groups: %w", err)
	}
	ix := &index{
		log:       log,
		tuples:    make(map[key]struct{}, len(rows)),
		bySubject: map[string][]key{},
		groupUUID: make(map[string]string, len(groups)),
		memo:      map[string][]string{},
	}
	for _, row := range rows {
		k := key{row.Subject, row.Relation, row.ObjectKind + ":" + row.ObjectID}
		ix.tuples[k] = struct{}{}
		ix.bySubject[k.subject] = append(ix.bySubject[k.subject], k)
	}
	for _, g := range groups {
		ix.groupUUID[g.Name] = g.UUID
	}
	return ix, nil
}

// subject is e's stored form.
func (ix *index) subject(e entity) (string, error) {
	if e.kind != KindGroup {
		return e.String(), nil
	}
	u, ok := ix.groupUUID[e.id]
	if !ok {
		return "", fmt.Errorf("group %q not found: %w", e.id, db.ErrNotFound)
	}
	return KindGroup + ":" + u + "#member", nil
}

// object is e's stored form, "kind:id".
func (ix *index) object(e entity) (string, error) {
	if e.kind != KindGroup {
		return e.kind + ":" + e.id, nil
	}
	u, ok := ix.groupUUID[e.id]
	if !ok {
		return "", fmt.Errorf("group %q not found: %w", e.id, db.ErrNotFound)
	}
	return KindGroup + ":" + u, nil
}

// closure returns the groups (stored subjects) subject is transitively a
// member of, computed once per index. Cycles end the walk: each group is
// visited once.
func (ix *index) closure(subject string) []string {
	ix.mu.RLock()
	groups, ok := ix.memo[subject]
	ix.mu.RUnlock()
	if ok {
		return groups
	}
	seen := map[string]bool{subject: true}
	queue := []string{subject}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		for _, k := range ix.bySubject[cur] {
			if k.relation != Member {
				continue
			}
			g := k.object + "#member"
			if g == subject {
				ix.log.Warn("group membership cycle", "group", subject)
			}
			if seen[g] {
				continue
			}
			seen[g] = true
			groups = append(groups, g)
			queue = append(queue, g)
		}
	}
	ix.mu.Lock()
	ix.memo[subject] = groups
	ix.mu.Unlock()
	return groups
}

// has reports whether subject, or a group it is transitively a member of,
// has relation to object directly.
func (ix *index) has(subject, relation, object string) bool {
	if _, ok := ix.tuples[key{subject, relation, object}]; ok {
		return true
	}
	for _, g := range ix.closure(subject) {
		if _, ok := ix.tuples[key{g, relation, object}]; ok {
			return true
		}
	}
	return false
}

// check answers Check on stored forms.
func (ix *index) check(subject, relation, kind, object string) bool {
	for _, rel := range grantedBy[kind][relation] {
		if ix.has(subject, rel, object) {
			return true
		}
	}
	return kind != KindGroup && ix.has(subject, Administrator, KindController+":"+BrokerController)
}

// Objects returns the names of the objects of kind (controller or cloud)
// that subject has relation to, directly, through an implying relation or
// through its groups; not those it has only as a broker administrator.
// Model objects are listed with db.ModelsFor instead.
func (r *Relations) Objects(ctx context.Context, subject, relation, kind string) ([]string, error) {
	if kind != KindController && kind != KindCloud {
		return nil, fmt.Errorf("%w: Objects lists controllers and clouds, not %q", ErrInvalidTuple, kind)
	}
	if err := checkRelation(relation, kind); err != nil {
		return nil, err
	}
	ix, s, err := r.resolve(ctx, subject)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, who := range append([]string{s}, ix.closure(s)...) {
		for _, k := range ix.bySubject[who] {
			name, ok := strings.CutPrefix(k.object, kind+":")
			if ok && slices.Contains(grantedBy[kind][relation], k.relation) && !slices.Contains(out, name) {
				out = append(out, name)
			}
		}
	}
	slices.Sort(out)
	return out, nil
}

// resolve validates subject (API form) and returns the index and the
// subject's stored form.
func (r *Relations) resolve(ctx context.Context, subject string) (*index, string, error) {
	subj, err := parseSubject(subject)
	if err != nil {
		return nil, "", err
	}
	ix, err := r.index(ctx)
	if err != nil {
		return nil, "", err
	}
	s, err := ix.subject(subj)
	return ix, s, err
}
