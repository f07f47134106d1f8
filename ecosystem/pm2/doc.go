// Package pm2 turns PM2's ecosystem files (.js, .cjs, .mjs, .json, .yaml) and dump.pm2 into eco's HCL.
package pm2
