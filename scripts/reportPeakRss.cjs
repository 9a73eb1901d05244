// Preloaded by the benchmark (node --require): prints the process's peak resident set size, worker threads
// included, when it exits.
process.on('exit', () => {
  process.stderr.write(`peak-rss-kib ${process.resourceUsage().maxRSS}\n`);
});
