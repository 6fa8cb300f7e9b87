// This file holds the shell scripts run in the nginx container: the
// session that holds the lock and writes the shared files, and the one-shot
// read of the lock with its holder's liveness. They use only shell
// builtins, rm and cat (the official nginx images have sh, cat and rm).
package targetstate

// sessionScript is run as `sh -c sessionScript nonstop-state-<applyID> DIR`
// with stdin attached: $0 names the apply in the shell's
// /proc/PID/cmdline, which is how another runner tells a live holder
// from a reused PID. It enters DIR, says "=ready PID" and answers each
// command read from stdin with one line starting with "=" ("=ok",
// "=held", "=error", ...). Lines before the answer are the shell's own
// messages (stderr folded in), which Go shows only with "=error". The
// shell's messages start with $0, never with "=".
//
// Commands, each a few lines, every argument on a line of its own (Go
// has checked that none holds a newline or a NUL, and that file names
// are "applies/<id>.jsonl" or "history.jsonl"):
//
//	append FILE LINE  append LINE and a newline to FILE, then =ok
//	lock FILE INFO    create FILE (`lock`, or a target's lock in
//	                  ../targets) holding "$$ INFO" unless it exists
//	                  (noclobber is O_EXCL: atomic on the target's
//	                  filesystem, whoever runs plan): =ok or =held
//	unlock FILE OLD   remove FILE if it holds exactly OLD (a target's
//	                  lock this session took), then =ok
//	takeover FILE OLD INFO
//	                  replace FILE if it still holds exactly OLD (the
//	                  stale line Go read): compare, rm, noclobber create.
//	                  Two runners taking over the same stale lock at the
//	                  same instant could both pass the compare, and the
//	                  second rm remove the first one's new lock: a window
//	                  of a few microseconds between read and rm, on a path
//	                  only `plan rollback` of a dead apply takes. Accepted.
//	release           remove `lock` if it is this session's, then exit
//	remove OLD        remove `lock` if it holds exactly OLD: =ok, =gone
//	                  (no lock), =other (someone else's)
//	check             =missing rm|cat, or =ok once a file could be
//	                  created and removed in DIR/applies
//
// A record is never torn by the death of plan: when plan dies the engine
// closes the exec's stdin, and the shell notices only at its next `read`,
// after the write of the current record is done. A command cut off
// before its newline is never run: `read` fails at end of input without
// the newline, and the loop ends. The line reaches printf as one
// argument, never evaluated (read -r keeps backslashes, IFS= the blanks,
// and a variable's value is not expanded again), and "$line$nl" is one
// %s, so it is written by one write(2). Only the shell itself being
// killed in the middle of writing a record longer than a page (the
// container stopped at that instant), or a full disk, can leave a last
// line without its newline: Pull drops such a line, and after a failed
// append the lock refuses further appends.
const sessionScript = `cd "$1" || exit 3
nl='
'
mine=
echo "=ready $$"
while IFS= read -r cmd; do
	case $cmd in
	append)
		IFS= read -r f || exit 0
		IFS= read -r line || exit 0
		if { printf '%s' "$line$nl" >> "$f"; } 2>&1; then echo =ok; else echo =error; fi
		;;
	lock)
		IFS= read -r f || exit 0
		IFS= read -r info || exit 0
		if (set -C; printf '%s' "$$ $info$nl" > "$f") 2>/dev/null; then
			[ "$f" = lock ] && mine="$$ $info"; echo =ok
		elif [ -e "$f" ]; then echo =held
		else (set -C; : > "$f") 2>&1; echo =error
		fi
		;;
	takeover)
		IFS= read -r f || exit 0
		IFS= read -r old || exit 0
		IFS= read -r info || exit 0
		if [ -e "$f" ]; then
			cur=; IFS= read -r cur < "$f"
			if [ "$cur" != "$old" ]; then echo =held; continue; fi
			rm -f "$f" 2>&1 || { echo =error; continue; }
		fi
		if (set -C; printf '%s' "$$ $info$nl" > "$f") 2>/dev/null; then
			[ "$f" = lock ] && mine="$$ $info"; echo =ok
		elif [ -e "$f" ]; then echo =held
		else (set -C; : > "$f") 2>&1; echo =error
		fi
		;;
	unlock)
		IFS= read -r f || exit 0
		IFS= read -r old || exit 0
		if [ -e "$f" ]; then
			cur=; IFS= read -r cur < "$f"
			if [ "$cur" = "$old" ]; then rm -f "$f" 2>&1 || { echo =error; continue; }; fi
		fi
		echo =ok
		;;
	release)
		r=ok
		if [ -n "$mine" ] && [ -e lock ]; then
			cur=; IFS= read -r cur < lock
			if [ "$cur" = "$mine" ]; then rm -f lock 2>&1 || r=error; fi
		fi
		echo "=$r"
		exit 0
		;;
	remove)
		IFS= read -r old || exit 0
		if [ ! -e lock ]; then echo =gone; continue; fi
		cur=; IFS= read -r cur < lock
		if [ "$cur" != "$old" ]; then echo =other
		elif rm -f lock 2>&1; then echo =ok
		else echo =error
		fi
		;;
	check)
		for t in rm cat; do
			command -v "$t" >/dev/null 2>&1 || { echo "=missing $t"; continue 2; }
		done
		if { : > "applies/.check.$$" && rm -f "applies/.check.$$"; } 2>&1; then echo =ok; else echo =error; fi
		;;
	*)
		echo "=error unknown command"
		;;
	esac
done
`

// holderScript is run as `sh -c holderScript nonstop-state DIR [FILE]`
// (FILE: `lock`, the default, or a target's lock). It
// prints "none" when there is no lock; else "whole" or "partial" (the
// lock has no newline yet: it is being written), the lock's line, and,
// when that line starts with a PID, "proc" followed by that process's
// raw /proc/PID/cmdline (nothing when the process is gone), or "nocat".
// The reads are one exec, so the line and the liveness belong together.
const holderScript = `cd "$1" 2>/dev/null || { echo none; exit 0; }
f=${2:-lock}
[ -e "$f" ] || { echo none; exit 0; }
cur=
if IFS= read -r cur < "$f"; then echo whole; else echo partial; fi
printf '%s\n' "$cur"
pid=${cur%% *}
case $pid in ''|*[!0-9]*) exit 0;; esac
command -v cat >/dev/null 2>&1 || { echo nocat; exit 0; }
echo proc
exec cat /proc/"$pid"/cmdline 2>/dev/null
`
