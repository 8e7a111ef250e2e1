// Generates ../conformance.json: composer's own test compositions
// (openwhisk-composer v0.12 test/conductor.js, re-expressed) plus the cases
// issue 13 lists, each compiled with composer's compile() and run by
// composer's real conductor code against composer's test actions, in an
// in-process stand-in for OpenWhisk's conductor protocol (component
// invocation, result ++ state, nested activations for async, parallel and
// map) and an in-memory stand-in for the redis commands the conductor uses.
//
// For the main activation, each case also records the conductor's
// component invocations: the action, its parameters, and the state and
// stack of $composer at that point (the state a frame must carry).
//
// Every case also states the expected result (from composer's test suite or
// from composer's documentation); the generator fails if composer's
// conductor disagrees with it, so the file records what composer does.
//
// Usage (needs Node.js and a checkout of openwhisk-composer v0.12):
//
//	COMPOSER_DIR=/path/to/openwhisk-composer node gen.js > ../conformance.json
'use strict'

const fs = require('fs')
const path = require('path')
const assert = require('assert')

const dir = process.env.COMPOSER_DIR
if (!dir) throw new Error('set COMPOSER_DIR to an openwhisk-composer checkout')
const composer = require(path.join(dir, 'composer.js'))
const version = require(path.join(dir, 'package.json')).version

// composer's conductor runtime: the main function of conductor.js, loaded
// with stand-ins for the modules it requires
const src = fs.readFileSync(path.join(dir, 'conductor.js'), 'utf8')
const mainSrc = src.slice(src.indexOf('function main (composition) {'))
const loadMain = new Function('require', 'process', 'console', mainSrc + '\nreturn main')

const actions = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'actions.json'), 'utf8'))
const actionMains = {}
for (const name in actions) {
  actionMains['/_/' + name] = new Function(actions[name] + '\nreturn main')()
}

// in-memory redis: the list commands the conductor uses, callback style
function fakeRedis () {
  const lists = new Map()
  const waiters = new Map()
  const wake = key => {
    const ws = waiters.get(key) || []
    while (ws.length > 0 && (lists.get(key) || []).length > 0) ws.shift()(lists.get(key).pop())
  }
  const client = {
    on () {},
    end () {},
    lpush (key, v, cb) { if (!lists.has(key)) lists.set(key, []); lists.get(key).unshift(String(v)); wake(key); cb(null, lists.get(key).length) },
    lpushx (key, v, cb) { if (!lists.has(key)) return cb(null, 0); lists.get(key).unshift(String(v)); wake(key); cb(null, lists.get(key).length) },
    expire (key, t, cb) { cb(null, 1) },
    rename (a, b, cb) { lists.set(b, lists.get(a)); lists.delete(a); wake(b); cb(null, 'OK') },
    brpop (key, timeout, cb) {
      const l = lists.get(key)
      if (l && l.length > 0) return cb(null, [key, l.pop()])
      if (!waiters.has(key)) waiters.set(key, [])
      waiters.get(key).push(v => cb(null, [key, v]))
    },
    lrange (key, a, b, cb) { cb(null, (lists.get(key) || []).slice()) },
    del (...args) { const cb = args.pop(); args.forEach(k => lists.delete(k)); cb(null, args.length) }
  }
  return client
}

const commands = ['lpush', 'lpushx', 'expire', 'rename', 'brpop', 'lrange', 'del']

// one run of a composition under the stand-in controller
function runComposition (compiled, params) {
  const redis = fakeRedis()
  let ids = 0
  const background = []
  const joins = []
  const trace = [] // the main activation's component invocations
  const logs = []
  const quiet = { log: m => logs.push(m), error: m => logs.push(m), err: m => logs.push(m) }
  const conductorActivation = (p, id) => {
    const env = { __OW_ACTION_NAME: 'TestAction', __OW_ACTIVATION_ID: id, __OW_DEADLINE: String(Date.now() + 60000) }
    const req = name => {
      switch (name) {
        case 'openwhisk': return () => ({ actions: { invoke: ({ params }) => {
          const aid = 'async-' + (++ids)
          const run = activation(params, aid)
          if (params.$composer.join) joins.push(run) // a parallel or map branch
          else background.push(run) // an async body
          return Promise.resolve({ activationId: aid })
        } } })
        case 'redis': return { createClient: () => redis }
        case 'redis-commands': return { list: commands }
        case 'uuid': return { v4: () => 'barrier-' + (++ids) }
        default: throw new Error('Cannot find module ' + name)
      }
    }
    return loadMain(req, { env }, quiet)(compiled.composition)(p)
  }
  // an activation of the conductor action, driven like OpenWhisk's controller
  const activation = async (params, id) => {
    let p = JSON.parse(JSON.stringify(params))
    for (let i = 0; i < 10000; i++) {
      const r = await conductorActivation(p, id)
      if (r.action === undefined) {
        if (r.error !== undefined) return { failed: true, result: r }
        return { failed: false, result: r.params }
      }
      if (id === 'session') trace.push(JSON.parse(JSON.stringify({ action: r.action, params: r.params, state: { state: r.state.$composer.state, stack: r.state.$composer.stack } })))
      const main = actionMains[r.action] || actionMains['/_/' + r.action]
      const out = main ? JSON.parse(JSON.stringify(main(JSON.parse(JSON.stringify(r.params))))) : { error: `action ${r.action} not found` }
      p = JSON.parse(JSON.stringify(Object.assign({}, out, r.state))) // through JSON, as OpenWhisk passes it
    }
    throw new Error('too many steps')
  }
  // as composer's tests do for parallel and async: the redis and openwhisk
  // configuration travel in the input's $composer field
  const input = Object.assign({}, params, { $composer: { redis: { uri: 'redis://stand-in' }, openwhisk: {} } })
  return activation(input, 'session').then(async res => {
    await Promise.all(joins)
    const bg = await Promise.all(background)
    return { res, bg, trace }
  })
}

const cases = []
// c: name, composition, input, expected result, failed (default false)
const c = (name, composition, params, result, failed = false, extra = {}) =>
  cases.push(Object.assign({ name, composition, params, result, failed }, extra))
const { n, x, y } = {} // composer's tests close over unused names like these

// composer v0.12 test/conductor.js, blocking invocations
c('actions/action must return true', composer.action('isNotOne'), { n: 0 }, { value: true })
c('actions/action must return false', composer.action('isNotOne'), { n: 1 }, { value: false })
c('actions/action must return activationId', composer.async('isNotOne'), { n: 1 }, { method: 'async', activationId: 'async-1', sessionId: 'session' })
c('dynamic/dynamic action invocation', composer.dynamic(), { type: 'action', name: 'DivideByTwo', params: { n: 42 } }, { n: 21 })
c('dynamic/missing type', composer.dynamic(), { name: 'DivideByTwo', params: { n: 42 } }, { error: 'Incorrect use of the dynamic combinator at AST node root' }, true)
c('dynamic/invalid type', composer.dynamic(), { type: 42, name: 'DivideByTwo', params: { n: 42 } }, { error: 'Incorrect use of the dynamic combinator at AST node root' }, true)
c('dynamic/missing name', composer.dynamic(), { type: 'action', params: { n: 42 } }, { error: 'Incorrect use of the dynamic combinator at AST node root' }, true)
c('dynamic/missing params', composer.dynamic(), { type: 'action', name: 'DivideByTwo' }, { error: 'Incorrect use of the dynamic combinator at AST node root' }, true)
c('literals/true', composer.literal(true), {}, { value: true })
c('literals/42', composer.literal(42), {}, { value: 42 })
c('functions/function must return true', composer.function(({ n }) => n % 2 === 0), { n: 4 }, { value: true })
c('functions/function must return false', composer.function(function ({ n }) { return n % 2 === 0 }), { n: 3 }, { value: false })
c('functions/function must fail', composer.function(() => n), {}, { error: 'Function combinator threw an exception at AST node root (see log for details)' }, true)
c('functions/function must throw', composer.function(() => ({ error: 'foo', n: 42 })), {}, { error: 'foo' }, true)
c('functions/function must mutate params', composer.function(params => { params.foo = 'foo' }), { n: 42 }, { foo: 'foo', n: 42 })
c('functions/function as string', composer.function('({ n }) => n % 2 === 0'), { n: 4 }, { value: true })
c('functions/function may return a promise', composer.function(({ n }) => Promise.resolve(n % 2 === 0)), { n: 4 }, { value: true })
c('deserialize/should deserialize a serialized composition', composer.parse({ type: 'sequence', components: [{ type: 'action', name: 'echo' }, { type: 'action', name: 'echo' }] }), { message: 'hi' }, { message: 'hi' })
c('tasks/action task', composer.task('isNotOne'), { n: 0 }, { value: true })
c('tasks/function task', composer.task(({ n }) => n % 2 === 0), { n: 4 }, { value: true })
c('tasks/null task must return input', composer.task(null), { foo: 'foo' }, { foo: 'foo' })
c('tasks/null task must fail on error input', composer.task(null), { error: 'foo' }, { error: 'foo' }, true)
c('sequence/flat', composer.sequence('TripleAndIncrement', 'DivideByTwo', 'DivideByTwo'), { n: 5 }, { n: 4 })
c('sequence/nested right', composer.sequence('TripleAndIncrement', composer.sequence('DivideByTwo', 'DivideByTwo')), { n: 5 }, { n: 4 })
c('sequence/nested left', composer.sequence(composer.sequence('TripleAndIncrement', 'DivideByTwo'), 'DivideByTwo'), { n: 5 }, { n: 4 })
c('sequence/seq', composer.seq('TripleAndIncrement', 'DivideByTwo', 'DivideByTwo'), { n: 5 }, { n: 4 })
c('parallel/parallel', composer.parallel('TripleAndIncrement', 'DivideByTwo'), { n: 42 }, { value: [{ n: 127 }, { n: 21 }] })
c('parallel/par', composer.par('DivideByTwo', 'TripleAndIncrement', 'isEven'), { n: 42 }, { value: [{ n: 21 }, { n: 127 }, { value: true }] })
c('parallel/map', composer.map('TripleAndIncrement', 'DivideByTwo'), { value: [{ n: 3 }, { n: 5 }, { n: 7 }] }, { value: [{ n: 5 }, { n: 8 }, { n: 11 }] })
c('if/condition = true', composer.if('isEven', 'DivideByTwo', 'TripleAndIncrement'), { n: 4 }, { n: 2 })
c('if/condition = false', composer.if('isEven', 'DivideByTwo', 'TripleAndIncrement'), { n: 3 }, { n: 10 })
c('if/condition = true, then branch only', composer.if('isEven', 'DivideByTwo'), { n: 4 }, { n: 2 })
c('if/condition = false, then branch only', composer.if('isEven', 'DivideByTwo'), { n: 3 }, { n: 3 })
c('if/condition = true, nosave option', composer.if_nosave('isEven', params => { params.then = true }, params => { params.else = true }), { n: 2 }, { value: true, then: true })
c('if/condition = false, nosave option', composer.if_nosave('isEven', params => { params.then = true }, params => { params.else = true }), { n: 3 }, { value: false, else: true })
c('while/a few iterations', composer.while('isNotOne', ({ n }) => ({ n: n - 1 })), { n: 4 }, { n: 1 })
c('while/no iteration', composer.while(() => false, ({ n }) => ({ n: n - 1 })), { n: 1 }, { n: 1 })
c('while/nosave option', composer.while_nosave(({ n }) => ({ n, value: n !== 1 }), ({ n }) => ({ n: n - 1 })), { n: 4 }, { value: false, n: 1 })
c('dowhile/a few iterations', composer.dowhile(({ n }) => ({ n: n - 1 }), 'isNotOne'), { n: 4 }, { n: 1 })
c('dowhile/one iteration', composer.dowhile(({ n }) => ({ n: n - 1 }), () => false), { n: 1 }, { n: 0 })
c('dowhile/nosave option', composer.dowhile_nosave(({ n }) => ({ n: n - 1 }), ({ n }) => ({ n, value: n !== 1 })), { n: 4 }, { value: false, n: 1 })
c('try/no error', composer.try(() => true, error => ({ message: error.error })), {}, { value: true })
c('try/error', composer.try(() => ({ error: 'foo' }), error => ({ message: error.error })), {}, { message: 'foo' })
c('try/try must throw', composer.try(composer.task(null), error => ({ message: error.error })), { error: 'foo' }, { message: 'foo' })
c('try/while must throw', composer.try(composer.while(composer.literal(false), null), error => ({ message: error.error })), { error: 'foo' }, { message: 'foo' })
c('try/if must throw', composer.try(composer.if(composer.literal(false), null), error => ({ message: error.error })), { error: 'foo' }, { message: 'foo' })
c('try/retain', composer.retain(composer.try(() => ({ p: 4 }), null)), { n: 3 }, { params: { n: 3 }, result: { p: 4 } })
c('finally/no error', composer.finally(() => true, params => ({ params })), {}, { params: { value: true } })
c('finally/error', composer.finally(() => ({ error: 'foo' }), params => ({ params })), {}, { params: { error: 'foo' } })
c('let/one variable', composer.let({ x: 42 }, () => x), {}, { value: 42 })
c('let/masking', composer.let({ x: 42 }, composer.let({ x: 69 }, () => x)), {}, { value: 69 })
c('let/two variables', composer.let({ x: 42 }, composer.let({ y: 69 }, () => x + y)), {}, { value: 111 })
c('let/two variables combined', composer.let({ x: 42, y: 69 }, () => x + y), {}, { value: 111 })
c('let/scoping', composer.let({ x: 42 }, composer.let({ x: 69 }, () => x), ({ value }) => value + x), {}, { value: 111 })
c('mask/let/let/mask', composer.let({ x: 42 }, composer.let({ x: 69 }, composer.mask(() => x))), {}, { value: 42 })
c('mask/let/mask/let', composer.let({ x: 42 }, composer.mask(composer.let({ x: 69 }, () => x))), {}, { value: 69 })
c('mask/let/let/try/mask', composer.let({ x: 42 }, composer.let({ x: 69 }, composer.try(composer.mask(() => x), () => { }))), {}, { value: 42 })
c('mask/let/let/let/mask', composer.let({ x: 42 }, composer.let({ x: 69 }, composer.let({ x: -1 }, composer.mask(() => x)))), {}, { value: 69 })
c('mask/let/let/let/mask/mask', composer.let({ x: 42 }, composer.let({ x: 69 }, composer.let({ x: -1 }, composer.mask(composer.mask(() => x))))), {}, { value: 42 })
c('mask/let/let/mask/let/mask', composer.let({ x: 42 }, composer.let({ x: 69 }, composer.mask(composer.let({ x: -1 }, composer.mask(() => x))))), {}, { value: 42 })
c('retain/base case', composer.retain('TripleAndIncrement'), { n: 3 }, { params: { n: 3 }, result: { n: 10 } })
c('retain/throw error', composer.retain(() => ({ error: 'foo' })), { n: 3 }, { error: 'foo' }, true)
c('retain/catch error', composer.retain_catch(() => ({ error: 'foo' })), { n: 3 }, { params: { n: 3 }, result: { error: 'foo' } })
c('merge/base case', composer.merge('TripleAndIncrement'), { n: 3, p: 4 }, { n: 10, p: 4 })
c('repeat/a few iterations', composer.repeat(3, 'DivideByTwo'), { n: 8 }, { n: 1 })
c('retry/success', composer.let({ x: 2 }, composer.retry(2, () => x-- > 0 ? { error: 'foo' } : 42)), {}, { value: 42 })
c('retry/failure', composer.let({ x: 2 }, composer.retry(1, () => x-- > 0 ? { error: 'foo' } : 42)), {}, { error: 'foo' }, true)
c('compositions/collatz', composer.while('isNotOne', composer.if('isEven', 'DivideByTwo', 'TripleAndIncrement')), { n: 5 }, { n: 1 })

// issue 13: conditions the condition language got wrong, and shaping rules
c('issue/loose equality', composer.if(p => p.n == '4', () => ({ branch: 'then' }), () => ({ branch: 'else' })), { n: 4 }, { branch: 'then' }) // eslint-disable-line eqeqeq
c('issue/missing field == null', composer.if(p => p.next == null, () => ({ branch: 'then' }), () => ({ branch: 'else' })), { n: 1 }, { branch: 'then' }) // eslint-disable-line eqeqeq
c('issue/length > 0 empty', composer.if(p => p.items.length > 0, () => ({ branch: 'then' }), () => ({ branch: 'else' })), { items: [] }, { branch: 'else' })
c('issue/length > 0 one', composer.if(p => p.items.length > 0, () => ({ branch: 'then' }), () => ({ branch: 'else' })), { items: [1] }, { branch: 'then' })
c('issue/string compared to number', composer.if(() => '10' > 3, () => ({ branch: 'then' }), () => ({ branch: 'else' })), {}, { branch: 'then' })
c('issue/while with loose test', composer.while(p => p.n != '0', 'countDown'), { n: 3 }, { n: 0 }) // eslint-disable-line eqeqeq
c('shaping/literal reaches next action wrapped', composer.seq(composer.literal(42), 'echo'), {}, { value: 42 })
c('shaping/literal object', composer.literal({ a: 1 }), { b: 2 }, { a: 1 })
c('shaping/literal with error mid-sequence', composer.seq(composer.literal({ error: 'bad' }), 'echo'), {}, { error: 'bad' }, true)
c('shaping/function string result', composer.function(() => 'hi'), {}, { value: 'hi' })
c('shaping/function array result', composer.function(() => [1, 'a', null]), {}, { value: [1, 'a', null] })
c('shaping/function returns a function', composer.function(() => () => 1), {}, { error: 'Function combinator evaluated to a function type at AST node root' }, true)
c('shaping/function error path', composer.seq('echo', () => { throw new Error('x') }), {}, { error: 'Function combinator threw an exception at AST node root[1] (see log for details)' }, true)
c('shaping/map non-objects', composer.map(({ value }) => value * 2), { value: [1, 2, 3] }, { value: [{ value: 2 }, { value: 4 }, { value: 6 }] })
c('shaping/map empty', composer.map('echo'), { value: [] }, { value: [] })
c('shaping/map missing value', composer.map('echo'), {}, { value: [] })
c('shaping/map over a string', composer.map('echo'), { value: 'abc' }, { error: 'Parallel combinator failed to invoke a composition at AST node root (see log for details)' }, true)
c('errors/parallel branch fails in its slot', composer.par(() => ({ error: 'boom' }), 'echo'), { n: 1 }, { value: [{ error: 'boom' }, { n: 1 }] })
c('errors/map branch fails in its slot', composer.map('fail'), { value: [{ message: 'a' }, { message: 'b' }] }, { value: [{ error: 'a' }, { error: 'b' }] })
c('errors/try handler gets the action error', composer.try('fail', e => ({ caught: e })), { message: 'no' }, { caught: { error: 'no' } })
c('errors/retain_catch of an action', composer.retain_catch('fail'), { message: 'no' }, { params: { message: 'no' }, result: { error: 'no' } })
c('errors/finally runs on error and error survives', composer.seq(composer.finally('fail', composer.literal({ cleaned: true })), 'echo'), { message: 'no' }, { cleaned: true })
c('errors/falsy error still unwinds', composer.seq(() => ({ error: 0, a: 1 }), () => ({ reached: true })), {}, { error: 0 })
c('errors/error input fails first action', composer.seq('echo'), { error: 'in' }, { error: 'in' }, true)
c('errors/retry an action', composer.retry(2, 'fail'), { message: 'no' }, { error: 'no' }, true)
c('variables/assignment persists', composer.let({ x: 1 }, () => { x = 2 }, () => x), {}, { value: 2 }) // eslint-disable-line no-global-assign
c('variables/assignment before throw persists', composer.let({ x: 1 }, composer.try(() => { x = 5; throw new Error('e') }, () => x)), {}, { value: 5 }) // eslint-disable-line no-global-assign
c('variables/invisible after let', composer.seq(composer.let({ x: 1 }, () => x), () => typeof x), {}, { value: 'undefined' })
c('variables/parallel branches copy the scope', composer.let({ x: 1 }, composer.par(() => { x = 10; return { x } }, () => ({ x })), () => ({ x })), {}, { x: 1 })
c('variables/let in a loop', composer.let({ i: 0, acc: [] }, composer.while(() => i < 3, () => { acc.push(i++) }), () => ({ acc })), {}, { acc: [0, 1, 2] })
c('nosave/while_nosave with action test', composer.while_nosave('isNotOne', () => ({ n: 1 })), { n: 3 }, { value: false })
c('nosave/dowhile_nosave with action body', composer.dowhile_nosave('countDown', p => ({ n: p.n, value: p.n > 0 })), { n: 3 }, { n: 0, value: false })
c('nosave/if_nosave with action test', composer.if_nosave('isEven', 'echo', 'echo'), { n: 2 }, { value: true })
c('async/body runs on its own', composer.seq(composer.async('DivideByTwo'), 'echo'), { n: 4 }, { method: 'async', activationId: 'async-1', sessionId: 'session' }, false, { async: [{ failed: false, result: { n: 2 } }] })
c('example/let while try finally function', composer.let({ tries: 0 },
  composer.while(composer.seq(() => { tries++ }, 'isNotOne'),
    composer.try(composer.finally('DivideByTwo', p => ({ n: Math.floor(p.n) })), e => ({ n: 1, e }))),
  p => ({ n: p.n, tries })), { n: 8 }, { n: 1, tries: 4 })

async function main () {
  const out = []
  for (const k of cases) {
    const compiled = k.composition.compile()
    const { res, bg, trace } = await runComposition(JSON.parse(JSON.stringify(compiled)), k.params).catch(e => { throw new Error(k.name + ': ' + e.message) })
    try {
      assert.deepStrictEqual(res.result, k.result)
      assert.strictEqual(res.failed, k.failed)
      if (k.async) assert.deepStrictEqual(bg, k.async)
    } catch (e) {
      throw new Error(`${k.name}: composer's conductor gives ${JSON.stringify(res)} (async ${JSON.stringify(bg)}), the case states ${JSON.stringify({ result: k.result, failed: k.failed, async: k.async })}`)
    }
    out.push({ name: k.name, composition: compiled, params: k.params, result: res.result, failed: res.failed, async: bg, trace })
  }
  process.stdout.write(JSON.stringify({ composer: version, cases: out }, null, 1) + '\n')
}

main().catch(e => { console.error(e.message); process.exit(1) })
