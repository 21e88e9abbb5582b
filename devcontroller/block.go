package devcontroller

import (
	"context"
	"fmt"
	"strconv"

	"github.com/jimmbroker/jimm/devcontroller/store"
	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

// The Block facade (version 2, model connections): Juju's
// disable-command. A model holds at most one block of each type:
//
//	BlockDestroy  `disable-command destroy-model`: destroying the model
//	BlockRemove   `disable-command remove-object`: removing machines,
//	              applications, units, and destroying the model
//	BlockChange   `disable-command all`: every change to the model
//
// As in Juju's BlockChecker, a change is refused by BlockChange, a removal
// by BlockRemove or BlockChange, and destruction by any of the three; the
// refusal has code "operation is blocked" and the block's message (or
// "the operation has been blocked"). ModelManager's and UserManager's
// changes check the controller model's blocks, as Juju's do.

// Kinds of operation a block may refuse.
const (
	blockChange  = params.BlockChange
	blockRemove  = params.BlockRemove
	blockDestroy = params.BlockDestroy
)

// blockingTypes lists, for each kind of operation, the block types that
// refuse it, in the order Juju checks them.
var blockingTypes = map[string][]string{
	blockChange:  {params.BlockChange},
	blockRemove:  {params.BlockRemove, params.BlockChange},
	blockDestroy: {params.BlockDestroy, params.BlockRemove, params.BlockChange},
}

// blockedIn returns Juju's refusal if a block of m refuses an operation of
// kind op, else nil.
func blockedIn(m *store.Model, op string) error {
	for _, t := range blockingTypes[op] {
		if b, ok := m.Blocks[t]; ok {
			msg := b.Message
			if msg == "" {
				msg = "the operation has been blocked"
			}
			return jujuapi.Errorf(jujuapi.CodeOperationBlocked, "%s", msg)
		}
	}
	return nil
}

// blocked is blockedIn for the model with uuid (nil if it is gone).
func (c *Controller) blocked(uuid, op string) error {
	m, ok := c.store.Model(uuid)
	if !ok {
		return nil
	}
	return blockedIn(m, op)
}

func validBlockType(t string) error {
	if _, ok := blockingTypes[t]; !ok {
		return jujuapi.Errorf(jujuapi.CodeNotValid, "unknown block type %q (BlockDestroy, BlockRemove or BlockChange)", t)
	}
	return nil
}

func (s *session) listBlocks(context.Context) (params.BlockResults, error) {
	m, err := s.connectedModel(store.AccessRead)
	if err != nil {
		return params.BlockResults{}, err
	}
	var out params.BlockResults
	for _, t := range []string{params.BlockDestroy, params.BlockRemove, params.BlockChange} {
		if b, ok := m.Blocks[t]; ok {
			out.Results = append(out.Results, params.BlockResult{Result: params.Block{
				Id: b.ID, Tag: jujuapi.ModelTag(m.UUID).String(), Type: t, Message: b.Message,
			}})
		}
	}
	return out, nil
}

func (s *session) switchBlockOn(ctx context.Context, p params.BlockSwitchParams) (params.ErrorResult, error) {
	return params.ErrorResult{Error: paramsError(s.switchBlock(ctx, p, true))}, nil
}

func (s *session) switchBlockOff(ctx context.Context, p params.BlockSwitchParams) (params.ErrorResult, error) {
	return params.ErrorResult{Error: paramsError(s.switchBlock(ctx, p, false))}, nil
}

func (s *session) switchBlock(ctx context.Context, p params.BlockSwitchParams, on bool) error {
	m, err := s.connectedModel(store.AccessWrite)
	if err != nil {
		return err
	}
	if err := validBlockType(p.Type); err != nil {
		return err
	}
	if err := writable(m); err != nil {
		return err
	}
	_, err = s.ctl.store.UpdateModel(ctx, m.UUID, func(m *store.Model) error {
		if err := writable(m); err != nil {
			return err
		}
		switch b, exists := m.Blocks[p.Type]; {
		case on && exists:
			// As in Juju, switching a block on again updates its message.
			b.Message = p.Message
			m.Blocks[p.Type] = b
		case on:
			if m.Blocks == nil {
				m.Blocks = map[string]store.Block{}
			}
			m.Blocks[p.Type] = store.Block{ID: m.UUID + ":" + strconv.Itoa(m.NextBlockID), Message: p.Message}
			m.NextBlockID++
		default:
			delete(m.Blocks, p.Type)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("switch %s block on model %q: %w", p.Type, m.Name, err)
	}
	state := "off"
	if on {
		state = "on"
	}
	s.ctl.log.Info("model block switched", "model", m.Name, "uuid", m.UUID, "type", p.Type, "state", state, "by", s.identity())
	return nil
}
