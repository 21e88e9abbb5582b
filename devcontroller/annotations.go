package devcontroller

import (
	"context"
	"fmt"

	"github.com/jimmbroker/jimm/devcontroller/store"
	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

// What diff-bundle reads besides the status: the Annotations facade
// (version 2), ModelConfig.Sequences and Application.CharmConfig.

// annotatable checks that tag names an entity of m that takes annotations
// (the model, an application, a machine or a unit).
func annotatable(m *store.Model, tag string) error {
	t, err := jujuapi.ParseTag(tag)
	if err != nil {
		return err
	}
	switch t.Kind {
	case jujuapi.KindModel:
		if t.ID == m.UUID {
			return nil
		}
		return jujuapi.NotFoundf("model %q", t.ID)
	case jujuapi.KindApplication:
		if m.Applications[t.ID] != nil {
			return nil
		}
		return jujuapi.NotFoundf("application %q", t.ID)
	case jujuapi.KindMachine:
		if m.Machines[t.ID] != nil {
			return nil
		}
		return jujuapi.NotFoundf("machine %s", t.ID)
	case jujuapi.KindUnit:
		name, err := jujuapi.UnitName(t)
		if err != nil {
			return jujuapi.Errorf(jujuapi.CodeNotValid, "%v", err)
		}
		app, _, _ := cutUnit(name)
		if a := m.Applications[app]; a != nil && a.Units[name] != nil {
			return nil
		}
		return jujuapi.NotFoundf("unit %q", name)
	}
	return jujuapi.Errorf(jujuapi.CodeNotValid, "%q cannot be annotated", tag)
}

func (s *session) annotationsGet(_ context.Context, p params.Entities) (params.AnnotationsGetResults, error) {
	m, err := s.connectedModel(store.AccessRead)
	if err != nil {
		return params.AnnotationsGetResults{}, err
	}
	out := params.AnnotationsGetResults{Results: make([]params.AnnotationsGetResult, len(p.Entities))}
	for i, e := range p.Entities {
		r := params.AnnotationsGetResult{EntityTag: e.Tag, Annotations: map[string]string{}}
		if err := annotatable(m, e.Tag); err != nil {
			r.Error = params.ErrorResult{Error: paramsError(err)}
		} else {
			for k, v := range m.Annotations[e.Tag] {
				r.Annotations[k] = v
			}
		}
		out.Results[i] = r
	}
	return out, nil
}

func (s *session) annotationsSet(ctx context.Context, p params.AnnotationsSet) (params.ErrorResults, error) {
	m, err := s.connectedModel(store.AccessWrite)
	if err != nil {
		return params.ErrorResults{}, err
	}
	if err := blockedIn(m, blockChange); err != nil {
		return params.ErrorResults{}, err
	}
	out := params.ErrorResults{Results: []params.ErrorResult{}}
	for _, a := range p.Annotations {
		_, err := s.ctl.store.UpdateModel(ctx, m.UUID, func(m *store.Model) error {
			if err := writable(m); err != nil {
				return err
			}
			if err := annotatable(m, a.EntityTag); err != nil {
				return err
			}
			if m.Annotations == nil {
				m.Annotations = map[string]map[string]string{}
			}
			cur := m.Annotations[a.EntityTag]
			if cur == nil {
				cur = map[string]string{}
			}
			for k, v := range a.Annotations {
				if v == "" {
					delete(cur, k)
				} else {
					cur[k] = v
				}
			}
			if len(cur) == 0 {
				delete(m.Annotations, a.EntityTag)
			} else {
				m.Annotations[a.EntityTag] = cur
			}
			return nil
		})
		if err != nil {
			// As Juju, only failures are listed.
			out.Results = append(out.Results, params.ErrorResult{Error: paramsError(fmt.Errorf("cannot update annotations on %s: %w", a.EntityTag, err))})
		}
	}
	return out, nil
}

// sequences answers ModelConfig.Sequences: the next machine number and
// each application's next unit number.
func (s *session) sequences(context.Context) (params.ModelSequencesResult, error) {
	m, err := s.configModel(store.AccessRead)
	if err != nil {
		return params.ModelSequencesResult{}, err
	}
	out := params.ModelSequencesResult{Sequences: map[string]int{"machine": m.NextMachineID}}
	for name, app := range m.Applications {
		out.Sequences["application-"+name] = app.NextUnitID
	}
	return out, nil
}
