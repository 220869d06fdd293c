#!/usr/bin/env python3
"""A small callgrind-file reader for benches/callgrind/run.sh: self and inclusive cost per
function (inclusive from the call edges), the callers or callees of a function, and the
per-probe breakdown by category (--cats). Costs are divided by [probes] when given.

usage: categories.py FILE [probes] [--cats] [--self] [--top N] [--callers REGEX | --callees REGEX]"""
import sys, re, collections
args = sys.argv[1:]
f = args[0]; probes = int(args[1]) if len(args) > 1 and args[1].isdigit() else 0
def opt(name, default=None):
    return args[args.index(name)+1] if name in args else default
names = {}
def nm(kind, s):
    m = re.match(r'\((\d+)\)(?: (.*))?', s)
    if not m: return s
    key = (kind, m.group(1))
    if m.group(2) is not None: names[key] = m.group(2)
    return names[key]
selfc = collections.Counter(); edges = collections.Counter(); ncalls = collections.Counter()
cur = None; pending = None; total = 0; callnext = False
for line in open(f, errors='replace'):
    line = line.rstrip('\n')
    if not line: continue
    c = line[0]
    if line.startswith('fn='): cur = nm('fn', line[3:]); continue
    if line.startswith('cfn='): pending = nm('fn', line[4:]); continue
    if line.startswith('cfi=') or line.startswith('cfl='): nm('fl', line[4:]); continue
    if line.startswith('fl=') or line.startswith('fi=') or line.startswith('fe='): nm('fl', line[3:]); continue
    if line.startswith('ob=') or line.startswith('cob='): continue
    if line.startswith('calls='):
        n = int(line[6:].split()[0]); ncalls[(cur, pending)] += n; callnext = True; continue
    if c.isdigit() or c in '+-*':
        parts = line.split()
        if len(parts) < 2: continue
        v = int(parts[1])
        if pending is not None and callnext:
            edges[(cur, pending)] += v; pending = None; callnext = False
        else:
            selfc[cur] += v; total += v
        continue
    callnext = False if not line.startswith('calls=') else callnext
callnext = False
incl = collections.Counter(selfc)
for (a, b), v in edges.items():
    if a != b: incl[a] += v
div = probes or 1
unit = 'per probe' if probes else 'Ir'
print(f'total {total:,} ({total/div:,.0f} {unit})')
pat = opt('--callers') or opt('--callees')
if pat:
    rx = re.compile(pat)
    for fn in [k for k in incl if rx.search(k)][:5]:
        print(f'\n== {fn}: self {selfc[fn]/div:,.0f} incl {incl[fn]/div:,.0f} ({100*incl[fn]/total:.1f}%)')
        rows = [(v, b if opt('--callees') else a, ncalls[(a,b)]) for (a,b),v in edges.items() if (a == fn if opt('--callees') else b == fn)]
        for v, o, n in sorted(rows, reverse=True)[:int(opt('--top', 25))]:
            print(f'  {v/div:>10,.0f} {100*v/total:5.1f}% {n:>9,}x {o[:160]}')
else:
    key = selfc if '--self' in args else incl
    for fn, v in key.most_common(int(opt('--top', 60))):
        print(f'{v/div:>10,.0f} {100*v/total:5.1f}%  self {selfc[fn]/div:>8,.0f}  {fn[:170]}')

CATS = [
 ('http client task(s)', [r'^exwatch::probe::actor::ProbeActor::probe::\{\{closure\}\}$', r'^exwatch::probe::client::Inner::connect::\{\{closure\}\}::\{\{closure\}\}$']),
 ('timer: on_tick (schedule + request build + spawn)', [r'^exwatch::probe::actor::ProbeActor::on_tick$']),
 ('ProbeDone: on_result (judge, metrics, send_batch, board)', [r'^exwatch::probe::actor::ProbeActor::on_result$']),
 ('detector: DetectorActor::feed', [r'^exwatch::detect::actor::DetectorActor::feed$']),
 ('anomaly path: store thread, router, channels', [r'^actix::sync::SyncContext<A>::run$', r'^exwatch::route::router::RouterActor::on_anomaly$', r'^exwatch::route::router::RouterActor::on_resolved$', r'^exwatch::route::core::RouterCore::release_held$', r'ChannelActor<C> as actix::handler::Handler']),
 ('/metrics scrape (measurement)', [r'^<actix_server::service::StreamService']),
]
if '--cats' in args:
    print()
    acc = 0
    for name, pats in CATS:
        v = sum(incl[k] for k in incl for p in pats if re.search(p, k))
        acc += v
        print(f'{v/div:>10,.0f} {100*v/total:5.1f}%  {name}')
    print(f'{(total-acc)/div:>10,.0f} {100*(total-acc)/total:5.1f}%  rest: runtime, actix mailboxes/contexts, epoll, other')
