# orbit-bench plot: crash-recovery-time. Redraw with `gnuplot crash-recovery-time.gp` in this directory;
# the data are the datablocks below (from the results files named in the title).
$d0 << EOD
5.682578 1417.022
5.780501 816.099
5.129539 1333.794
EOD
$d1 << EOD
4.901325 1010.506
5.10651 977.927
4.846094 789.466
EOD
$d2 << EOD
4.526703 2668.197
4.770358 2143.597
5.132643 2008.516
EOD
$d3 << EOD
6.324219 4.537
6.5 8.236
6.289063 8.472
EOD
set encoding utf8
set termoption noenhanced
set title "Crash recovery time against store size\nrun 20261123-091240-latency-table · workload latency-table · legend: backend (durability mode)\nrecovery = from the start of the reopen until the first read is served (crash.csv)"
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
