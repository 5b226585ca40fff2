# orbit-bench plot: crash-recovery-time. Redraw with `gnuplot crash-recovery-time.gp` in this directory;
# the data are the datablocks below (from the results files named in the title).
$d0 << EOD
9.266243 331.114
8.51945 303.485
9.149184 238.612
EOD
$d1 << EOD
11.767673 148.958
10.189475 128.736
9.869167 162.943
EOD
$d2 << EOD
6.815039 405.054
8.028544 232.711
7.681705 376.083
EOD
$d3 << EOD
10.78125 4.93
12.433594 4.391
11.820313 4.158
EOD
set encoding utf8
set termoption noenhanced
set title "Crash recovery time against store size\nrun 20261123-140717-latency-table · workload latency-table · legend: backend (durability mode)\nrecovery = from the start of the reopen until the first read is served (crash.csv)"
set xlabel "store size on disk (MiB)" offset 0,0.4
set ylabel "recovery time (ms)"
set grid xtics ytics lc rgb "#dddddd"
set key outside below center horizontal Left reverse maxcols 3 box lc rgb "#999999" width 2 spacing 1.2 height 1.5
set datafile missing "?"
set datafile separator whitespace
set xrange [0:*]
set yrange [0:*]
set offsets 0, graph 0.05, graph 0.05, 0
set terminal pngcairo size 1100,720 font "DejaVu Sans,10" noenhanced
set output "crash-recovery-time.png"
plot $d0 using 1:2 with points lc rgb "#1f77b4" dt 1 pt 2 lw 1.5 ps 1.6 title "cow (none) kill", \
     $d1 using 1:2 with points lc rgb "#2ca02c" dt 1 pt 2 lw 1.5 ps 1.6 title "lsm (none) kill", \
     $d2 using 1:2 with points lc rgb "#d62728" dt 1 pt 2 lw 1.5 ps 1.6 title "rocksdb (none) kill", \
     $d3 using 1:2 with points lc rgb "#9467bd" dt 1 pt 2 lw 1.5 ps 1.6 title "lmdb (none) kill"
set terminal svg size 1100,720 font "DejaVu Sans,10" noenhanced background rgb "white"
set output "crash-recovery-time.svg"
replot
unset output
