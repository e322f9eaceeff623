#!/usr/bin/python3
"""Compares how two builds read configs: the gg_settings each fills (byte
for byte) or the error each gives, for every shipped config and for --set
values of every key in docs/config.md's generated tables (each bound, past
each bound, a word, a list, a map, an empty string, each enum name), plus
combinations (optimizer switches, groups, faults, milestones, prune rules).

    scripts/config-equiv.py OLD_SRC OLD_BUILD NEW_SRC NEW_BUILD

OLD_SRC/NEW_SRC are source trees (for src/train/train.h), *_BUILD their
build directories (libgradguard.a). gg_settings must have the same layout in
both. Prints each difference and a count; exit status 0 either way."""
import glob, os, re, subprocess, sys, tempfile

DUMP = r'''
#include "train/train.h"
#include <stdio.h>
#include <string.h>
int main(int argc, char **argv)
{
    gg_cfg *c = NULL;
    if (gg_cfg_load(argv[1], &c)) { printf("LOAD %s\n", gg_errmsg()); return 0; }
    for (int i = 2; i + 1 < argc; i += 2)
        if (gg_cfg_set(c, argv[i + 1])) { printf("SET %s\n", gg_errmsg()); return 0; }
    static gg_settings s;
    if (gg_settings_read(c, &s)) { printf("ERR %s\n", gg_errmsg()); return 0; }
    const unsigned char *p = (const unsigned char *)&s;
    for (size_t i = 0; i < sizeof s; i++) if (p[i]) printf("%zu:%02x\n", i, p[i]);
    gg_cfg_free(c);
    return 0;
}
'''

old_src, old_build, new_src, new_build = sys.argv[1:5]
tmp = tempfile.mkdtemp()
open(os.path.join(tmp, 'dump.c'), 'w').write(DUMP)
bins = {}
for tag, src, build in (('old', old_src, old_build), ('new', new_src, new_build)):
    bins[tag] = os.path.join(tmp, 'dump_' + tag)
    subprocess.run(['mpicc', '-O1', '-std=c11', '-I' + src + '/include', '-I' + src + '/src', os.path.join(tmp, 'dump.c'),
                    build + '/libgradguard.a', '-o', bins[tag], '-lyaml', '-lz', '-lm', '-fopenmp', '-lopenblas',
                    '-lpthread'], check=True)

tabs, sec = {}, None
for line in open(os.path.join(new_src, 'docs/config.md')):
    m = re.match(r'<!-- keys: ([\w.]+) -->', line)
    if m:
        sec = m.group(1)
    elif line.startswith('<!-- end keys'):
        sec = None
    elif sec and line.startswith('| `'):
        tabs.setdefault(sec, []).append([x.strip() for x in re.split(r'(?<!\\)\|', line.strip())[1:-1]])

def num(t):
    if t == '2^63 - 1': return str(2**63 - 1)
    m = re.match(r'^2\^(\d+)$', t)
    return str(2**int(m.group(1))) if m else t

base = os.path.join(new_src, 'configs/fashion-mlp.yaml')
cases = [(f, []) for f in sorted(glob.glob(new_src + '/configs/**/*.yaml', recursive=True))]
for sec, rows in tabs.items():
    if '.' in sec: continue
    for c in rows:
        key, ty, rng = c[0].strip('`'), c[1], c[2]
        vals = ['abc', '[1]', '{a: 1}', '""']
        m = re.match(r'^\[([^,]+), ([^\]]+)\]$', rng)
        if m and ty.startswith(('int', 'float')):
            lo, hi = num(m.group(1)), num(m.group(2))
            vals += [lo, hi, '-1', '1e40', '1e-40', hi + '0', '1.5', '0', '7']
        elif ty in ('enum', 'response'):
            vals += [x.strip() for x in rng.split(',')] + ['nothing', 'bogus']
        elif ty == 'bool':
            vals += ['true', 'false', 'yes', '2']
        else:
            vals += ['x.bin', 'none', '/tmp']
        cases += [(base, ['--set', '%s.%s=%s' % (sec, key, v)]) for v in vals]
    cases += [(base, ['--set', '%s=%s' % (sec, v)]) for v in ('[]', '3')]
for combo in (['optimizer.name=sgd', 'optimizer.momentum=0.9'], ['optimizer.lr=0.5', 'optimizer.name=adamw'],
              ['optimizer.groups=[{params: "fc1.*", lr_scale: 0.5}]'], ['optimizer.groups=[{lr_scale: 0.5}]'],
              ['optimizer.name=adagrad', 'optimizer.groups=[{params: "*", l1: 0.1}]'],
              ['schedule.name=multistep', 'schedule.milestones=[3, 5]'], ['schedule.milestones=[5, 3]'],
              ['schedule.name=cosine', 'optimizer.lr=0.3'],
              ['guard.faults=[{batch: 3, nan: true}, {batch: 5, scale: 100, rank: 1}]'], ['guard.faults=[{nan: true}]'],
              ['prune.sparsity=0.5'], ['prune.sparsity=0.5', 'prune.structured=true'],
              ['prune.sparsity=0.5', 'prune.structured=true', 'prune.keep_last=false'],
              ['prune.sparsity=0.5', 'prune.start=10'], ['prune.sparsity=0.5', 'prune.start=10', 'prune.end=5'],
              ['prune.sparsity=0.5', 'prune.initial_sparsity=0.1'], ['prune.sparsity=0.5', 'prune.scope=layer'],
              ['data.format=text', 'augment.noise=0.1'], ['data.format=adding'], ['data.format=adding', 'data.normalize=scale'],
              ['data.test=none'], ['data.test='], ['regularize.early_stopping={patience: 3}'], ['train.init_from=/tmp/x.st'],
              ['loss.name=huber', 'loss.delta=2'], ['train.seed=9223372036854775807']):
    cases.append((base, sum([['--set', x] for x in combo], [])))

same = diff = 0
for f, args in cases:
    out = {t: subprocess.run([bins[t], f] + args, capture_output=True, text=True).stdout for t in bins}
    if out['old'] == out['new']:
        same += 1
        continue
    diff += 1
    print(os.path.basename(f), ' '.join(args))
    for t in ('old', 'new'):
        o = out[t]
        if not o.startswith(('ERR', 'SET', 'LOAD')):
            other = set(out['new' if t == 'old' else 'old'].split())
            o = 'bytes only here: ' + ' '.join(sorted(set(o.split()) - other)[:12])
        print('  %s: %s' % (t, o.strip()))
print('%d cases: %d the same, %d differ' % (len(cases), same, diff))
