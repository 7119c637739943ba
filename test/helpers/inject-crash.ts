// Preloaded into the production entry by test/main.test.ts (node --import): SIGUSR2 makes the
// process fail the way a bug would, with E2M_INJECT=exception (thrown from a timer, uncaught) or
// E2M_INJECT=rejection (a promise nobody catches). Never loaded outside tests.
process.on('SIGUSR2', () => {
  if (process.env.E2M_INJECT === 'rejection') {
    void Promise.reject(new Error('injected rejection'));
  } else {
    setTimeout(() => {
      throw new Error('injected crash');
    }, 0);
  }
});
