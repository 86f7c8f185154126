// Helpers for the deploy/ checks: a Dockerfile parser, the .dockerignore matcher BuildKit applies,
// metric names in PromQL, the tools these tests drive (promtool, prometheus, kubectl, docker-compose).
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseAllDocuments, parseDocument } from 'yaml';
import { ROOT } from '../helpers.ts';

export { ROOT };
export const DEPLOY = path.join(ROOT, 'deploy');

/** Parses one YAML file, failing on any error or warning (duplicate keys included). */
export function readYaml(file: string): any {
  const doc = parseDocument(readFileSync(file, 'utf8'), { uniqueKeys: true, prettyErrors: true });
  if (doc.errors.length || doc.warnings.length) throw new Error(`${file}: ${[...doc.errors, ...doc.warnings].map((e) => e.message).join('; ')}`);
  return doc.toJS();
}

/** Every document of a multi-document YAML text. */
export function readYamlDocs(text: string, where: string): any[] {
  const docs = parseAllDocuments(text, { uniqueKeys: true });
  return [...docs].map((d) => {
    if (d.errors.length) throw new Error(`${where}: ${d.errors.map((e) => e.message).join('; ')}`);
    return d.toJS();
  });
}

/** The absolute path of a command on PATH, or null. */
export function which(cmd: string): string | null {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.trim() ? r.stdout.trim() : null;
}

// ---- Dockerfiles ---------------------------------------------------------------------------

export interface Instruction {
  keyword: string;
  /** the text after the keyword, continuation lines joined */
  args: string;
  line: number;
}

export interface Stage {
  name: string | null;
  base: string;
  instructions: Instruction[];
}

export interface Dockerfile {
  /** ARGs before the first FROM, with their defaults */
  globalArgs: Record<string, string>;
  stages: Stage[];
}

/** Splits a Dockerfile into stages and instructions: comments dropped, `\` continuations joined. */
export function parseDockerfile(text: string): Dockerfile {
  const lines = text.split('\n');
  const instructions: Instruction[] = [];
  let current: Instruction | null = null;
  lines.forEach((raw, i) => {
    const line = raw.replace(/\r$/, '');
    if (/^\s*#/.test(line)) return; // comments (and parser directives) also inside continuations
    if (current) {
      current.args += ' ' + line.trim().replace(/\\$/, '').trim();
      if (!/\\\s*$/.test(line)) current = null;
      return;
    }
    if (!line.trim()) return;
    const m = /^\s*([A-Za-z]+)\s+(.*)$/.exec(line);
    if (!m) throw new Error(`Dockerfile line ${i + 1}: not an instruction: ${line}`);
    const ins = { keyword: m[1].toUpperCase(), args: m[2].replace(/\\\s*$/, '').trim(), line: i + 1 };
    instructions.push(ins);
    if (/\\\s*$/.test(line)) current = ins;
  });
  const globalArgs: Record<string, string> = {};
  const stages: Stage[] = [];
  for (const ins of instructions) {
    if (ins.keyword === 'FROM') {
      const m = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args);
      if (!m) throw new Error(`Dockerfile line ${ins.line}: FROM ${ins.args}`);
      stages.push({ base: m[1].replace(/\$\{(\w+)\}/g, (_x, n: string) => globalArgs[n] ?? ''), name: m[2] ?? null, instructions: [] });
    } else if (!stages.length) {
      if (ins.keyword !== 'ARG') throw new Error(`Dockerfile line ${ins.line}: ${ins.keyword} before FROM`);
      const [k, v] = ins.args.split('=');
      globalArgs[k] = v ?? '';
    } else stages[stages.length - 1].instructions.push(ins);
  }
  return { globalArgs, stages };
}

export function stage(df: Dockerfile, name: string): Stage {
  const s = df.stages.find((x) => x.name === name);
  if (!s) throw new Error(`no stage ${name}`);
  return s;
}

/** The JSON (exec) form of CMD, ENTRYPOINT or HEALTHCHECK ... CMD; throws on the shell form. */
export function execForm(args: string): string[] {
  const json = args.slice(args.indexOf('['));
  const v = JSON.parse(json);
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw new Error(`not an exec form: ${args}`);
  return v;
}

export interface Copy {
  from: string | null;
  sources: string[];
  dest: string;
  line: number;
}

export function copies(s: Stage): Copy[] {
  return s.instructions
    .filter((i) => i.keyword === 'COPY' || i.keyword === 'ADD')
    .map((i) => {
      const words = i.args.split(/\s+/);
      let from: string | null = null;
      while (words[0]?.startsWith('--')) {
        const flag = words.shift()!;
        if (flag.startsWith('--from=')) from = flag.slice('--from='.length);
      }
      return { from, sources: words.slice(0, -1), dest: words[words.length - 1], line: i.line };
    });
}

/** ENV KEY=VALUE ... (values without spaces or quotes, as deploy/docker writes them). */
export function envOf(s: Stage): Record<string, string> {
  const env: Record<string, string> = {};
  for (const i of s.instructions.filter((x) => x.keyword === 'ENV')) for (const kv of i.args.split(/\s+/)) env[kv.split('=')[0]] = kv.slice(kv.indexOf('=') + 1);
  return env;
}

// ---- .dockerignore -------------------------------------------------------------------------

interface IgnoreRule {
  negate: boolean;
  re: RegExp;
}

/** A glob of .dockerignore as moby's patternmatcher reads it: `*` and `?` within a segment, `**` across segments. */
function globToRegExp(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '*' && pattern[i + 1] === '*') {
      i++;
      if (pattern[i + 1] === '/') {
        i++;
        re += '(?:.*/)?';
      } else re += '.*';
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/** Whether BuildKit sends `rel` (a path relative to the context) with these .dockerignore rules. */
export function dockerignoreSends(ignoreText: string): (rel: string) => boolean {
  const rules: IgnoreRule[] = ignoreText
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const negate = l.startsWith('!');
      const p = path.posix
        .normalize((negate ? l.slice(1) : l).trim())
        .replace(/^\/+/, '')
        .replace(/\/+$/, '');
      return { negate, re: globToRegExp(p) };
    });
  return (rel: string) => {
    const parts = rel.split('/');
    const candidates = parts.map((_p, i) => parts.slice(0, i + 1).join('/'));
    let excluded = false;
    // the last rule that matches the path or one of its parents decides
    for (const r of rules) if (candidates.some((c) => r.re.test(c))) excluded = !r.negate;
    return !excluded;
  };
}

// ---- PromQL ----------------------------------------------------------------------------------

const PROMQL_WORDS = new Set(['and', 'or', 'unless', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'offset', 'inf', 'nan']);

/** The metric names a PromQL expression selects (functions, keywords, labels and strings left out). */
export function metricNames(expr: string): string[] {
  let e = expr.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""'); // strings
  e = e.replace(/\{[^}]*\}/g, ' '); // label matchers
  e = e.replace(/\[[^\]]*\]/g, ' '); // range and subquery durations
  e = e.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' '); // grouping labels
  e = e.replace(/\$\{?\w+\}?/g, ' '); // Grafana variables
  const names = new Set<string>();
  for (const m of e.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const after = e.slice(m.index! + m[0].length).trimStart();
    if (after.startsWith('(')) continue; // a function or aggregation
    if (PROMQL_WORDS.has(m[0].toLowerCase())) continue;
    if (/^\d/.test(m[0])) continue;
    names.add(m[0]);
  }
  return [...names];
}

/** The PromQL of every alert rule of a rules file's groups. */
export function ruleExprs(groups: { rules: { alert?: string; record?: string; expr: string }[] }[]): { name: string; expr: string }[] {
  return groups.flatMap((g) => g.rules.map((r) => ({ name: r.alert ?? r.record ?? '?', expr: r.expr })));
}

/** Every query expression of a Grafana dashboard's panels (rows' nested panels too). */
export function dashboardExprs(dash: any): { panel: string; expr: string }[] {
  const out: { panel: string; expr: string }[] = [];
  const walk = (panels: any[]) => {
    for (const p of panels ?? []) {
      for (const t of p.targets ?? []) if (t.expr) out.push({ panel: p.title, expr: t.expr });
      if (p.panels) walk(p.panels);
    }
  };
  walk(dash.panels);
  return out;
}

/** A Grafana expression as Prometheus runs it: the dashboard's variables as "all", $__rate_interval as 1m. */
export function grafanaToPromql(expr: string): string {
  return expr
    .replace(/\$__rate_interval|\$\{__rate_interval\}/g, '1m')
    .replace(/\$__interval|\$\{__interval\}/g, '15s')
    .replace(/\$\{?(\w+)\}?/g, '.*');
}

export function readJson(file: string): any {
  return JSON.parse(readFileSync(file, 'utf8'));
}

export function mustExist(file: string): string {
  if (!existsSync(file)) throw new Error(`missing: ${path.relative(ROOT, file)}`);
  return file;
}
