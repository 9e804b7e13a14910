# bash completion for proxyshim(1)            -*- shell-script -*-
# Installed as share/bash-completion/completions/proxyshim.

# shellcheck disable=SC2207
_proxyshim() {
	local cur prev words cword
	if declare -F _init_completion >/dev/null 2>&1; then
		_init_completion || return
	else
		cur=${COMP_WORDS[COMP_CWORD]}
		prev=${COMP_WORDS[COMP_CWORD - 1]}
		words=("${COMP_WORDS[@]}")
		cword=$COMP_CWORD
	fi

	local cmds="run check explain compile dump reload gc help"
	local cmd="" i
	for ((i = 1; i < cword; i++)); do
		case ${words[i]} in
		-c | --config | --target | --peer) ((i++)) ;;
		-*) ;;
		*)
			cmd=${words[i]}
			break
			;;
		esac
	done

	# run: after "--" or the command word, complete the wrapped command.
	if [[ $cmd == run ]]; then
		local j
		for ((j = i + 1; j < cword; j++)); do
			case ${words[j]} in
			-c | --config) ((j++)) ;;
			-q | -v | -vv | --config=*) ;;
			*)
				if declare -F _command_offset >/dev/null 2>&1; then
					[[ ${words[j]} == -- ]] && ((j++))
					_command_offset "$j"
				else
					COMPREPLY=($(compgen -c -- "$cur"))
				fi
				return
				;;
			esac
		done
	fi

	# "--config=FILE" arrives as "--config" "=" "FILE" with the default
	# COMP_WORDBREAKS, or as one word without it.
	local f=""
	case $prev in
	-c | --config) f=$cur ;;
	=) [[ ${words[cword - 2]} == --config ]] && f=$cur ;;
	--target | --peer) return ;;
	esac
	if [[ $cur == --config=* ]]; then
		f=${cur#--config=}
	fi
	if [[ -n $f || $prev == -c || $prev == --config || $prev == = ]]; then
		# Config files (*.yml, *.yaml) and directories to descend.
		COMPREPLY=($(compgen -f -X '!*.yml' -- "$f")
			$(compgen -f -X '!*.yaml' -- "$f")
			$(compgen -d -- "$f"))
		compopt -o filenames 2>/dev/null
		return
	fi

	case $cmd in
	"")
		COMPREPLY=($(compgen -W "$cmds -h --help -V --version" -- "$cur"))
		;;
	run)
		COMPREPLY=($(compgen -W "-c --config -q -v -vv --" -- "$cur"))
		;;
	check)
		COMPREPLY=($(compgen -W "-c --config --probe --target" -- "$cur"))
		;;
	explain)
		[[ $cur == -* ]] && COMPREPLY=($(compgen -W "-c --config --peer" -- "$cur"))
		;;
	compile | dump)
		[[ $cur == -* ]] && COMPREPLY=($(compgen -W "-c --config" -- "$cur"))
		;;
	reload)
		[[ $cur == -* ]] && COMPREPLY=($(compgen -W "-c --config -q" -- "$cur"))
		;;
	gc)
		[[ $prev == --min-age ]] && return
		COMPREPLY=($(compgen -W "-n --dry-run -v --min-age" -- "$cur"))
		;;
	esac
}
complete -F _proxyshim proxyshim
