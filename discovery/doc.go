// Package discovery defines how instances of a service are registered and
// found: the [Instance] record, the [Registrar] that announces one, and the
// [Resolver] whose [Watch] pushes complete snapshots of a service's
// instances.
//
// Backends live in subpackages (discovery/memory, discovery/static, and the
// engines added beside them) and all build their watches on [Feed], which
// gives every backend the same contract:
//
//   - every [Update] carries the complete instance list, never a delta;
//   - when the registry fails, the update keeps the last known good list
//     and reports the error beside it, so a registry that blinks never
//     empties a client's pool;
//   - a slow reader never blocks the registry: updates are conflated and a
//     reader always sees the newest one.
//
// [NewInstancer] and [FromInstancer] convert to and from go-kit's
// sd.Instancer so that go-kit's own load balancers and Switchyard's
// backends mix freely.
package discovery
